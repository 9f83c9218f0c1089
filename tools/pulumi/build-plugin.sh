#!/usr/bin/env bash
# Build one Pulumi plugin from Go modules into $2 and register it with the CLI.
#   build-plugin.sh language-python|docker|command BIN
# Exit 0 when the plugin is there (cached or built), 1 with the reason otherwise.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/versions.env"
kind=$1 BIN=$2
here=$(cd "$(dirname "$0")" && pwd)

case $kind in
  language-python)
    module=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
    version=v$PULUMI_VERSION pkg=$module binary=pulumi-language-python ;;
  command)
    module=github.com/pulumi/pulumi-command/provider
    version=v$PULUMI_COMMAND_VERSION pkg=$module/cmd/pulumi-resource-command binary=pulumi-resource-command ;;
  docker)
    module=github.com/pulumi/pulumi-docker/provider/v5
    version=v$PULUMI_DOCKER_VERSION pkg=$module/cmd/pulumi-resource-docker binary=pulumi-resource-docker ;;
  *) die "unknown plugin '$kind' (expected language-python, docker or command)" ;;
esac

stamp=$BIN/.$binary.version
if [ -x "$BIN/$binary" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  ok "$binary $version is cached"
  exit 0
fi

# Ask the proxy only: its answer, not a failed git fallback, is the reason worth showing.
export GOPROXY=${GOPROXY:-$(go env GOPROXY)}; GOPROXY=${GOPROXY%,direct}
step "fetching $module@$version from the Go module proxy"
if ! info=$(go mod download -json "$module@$version" 2>&1) || grep -q '"Error"' <<<"$info"; then
  reason=$(sed -n 's/.*"Error": "\(.*\)".*/\1/p' <<<"$info" | sed 's/\\n/ /g; s/\\t/ /g' | head -c 400)
  warn "$binary cannot be built here: the module proxy does not serve $module@$version"
  warn "  ${reason:-$info}"
  exit 1
fi
src=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$info")

work=$HEARTH_CACHE/build/$binary-$version
rm -rf "$work" && mkdir -p "$work"
{
  echo "module hearth.local/$binary"
  echo
  echo "go 1.25.8"
  echo
  echo "require $module $version"
  # Repeat the module's own replace lines: those with a module version as they
  # are, those pointing into its repository pinned to the released sibling module.
  awk '/^replace /{sub(/^replace /,""); print "replace " $0} /^replace \($/{inblk=1; next} inblk&&/^\)/{inblk=0} inblk{print "replace " $0}' "$src/go.mod" \
    | grep -v '=> \.' || true
  grep -Eq 'pulumi/sdk/v3 => \.' "$src/go.mod" && echo "replace github.com/pulumi/pulumi/sdk/v3 => github.com/pulumi/pulumi/sdk/v3 v$PULUMI_VERSION"
} >"$work/go.mod"
printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >"$work/tools.go"

if [ "$kind" = docker ]; then
  # pulumi-docker builds against kreuzwerker's provider plus a `shim` package
  # Pulumi patches in. Fetch that upstream at the pinned commit and add the shim.
  upstream=$work/upstream
  up_info=$(go mod download -json "github.com/terraform-providers/terraform-provider-docker@$TF_DOCKER_COMMIT" 2>&1) || true
  if grep -q '"Error"' <<<"$up_info"; then
    warn "pulumi-resource-docker cannot be built here: the upstream terraform-provider-docker@$TF_DOCKER_COMMIT is not served"
    exit 1
  fi
  cp -r "$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' <<<"$up_info")" "$upstream" && chmod -R u+w "$upstream"
  mkdir -p "$upstream/shim"
  cp "$here/docker-shim.go.in" "$upstream/shim/shim.go"
  echo "replace github.com/terraform-providers/terraform-provider-docker => ./upstream" >>"$work/go.mod"
fi

step "building $binary $version (several minutes cold)"
(
  cd "$work"
  GOFLAGS=-mod=mod go mod tidy >/dev/null
  go build -trimpath -ldflags "-s -w" -o "$BIN/$binary" "$pkg"
) || { warn "building $binary failed (output above)"; exit 1; }
echo "$version" >"$stamp"
if [ "$kind" != language-python ]; then
  "$BIN/pulumi" plugin install resource "$kind" "${version#v}" --file "$BIN/$binary" >/dev/null
fi
ok "$binary $version built"
