#!/usr/bin/env bash
# Build the Pulumi CLI from the Go module github.com/pulumi/pulumi/pkg/v3 into $1.
# pkg/v3's go.mod has `replace` lines that `go install pkg@version` refuses, so we
# build from a small wrapper module of our own that repeats them with versions.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/versions.env"
BIN=$1

if [ -x "$BIN/pulumi" ] && [ "$("$BIN/pulumi" version 2>/dev/null)" = "v$PULUMI_VERSION" ] \
   && [ -x "$BIN/pulumi-resource-pulumi-python" ]; then
  ok "pulumi CLI $PULUMI_VERSION is cached ($BIN/pulumi)"
  exit 0
fi

work=$HEARTH_CACHE/build/pulumi-cli-$PULUMI_VERSION
mkdir -p "$work"
sed "s/@PULUMI_VERSION@/$PULUMI_VERSION/g" "$(dirname "$0")/cli.go.mod.in" >"$work/go.mod"
cp "$(dirname "$0")/tools.go.in" "$work/tools.go"
step "building the Pulumi CLI $PULUMI_VERSION from Go modules (about 3 min cold on 2 cores)"
(
  cd "$work"
  GOFLAGS=-mod=mod go mod tidy >/dev/null 2>"$work/tidy.log" || { cat "$work/tidy.log" >&2; exit 1; }
  go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$BIN/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
) || die "building the Pulumi CLI failed (output above); check that the Go module proxy answers"
# Dynamic providers (Python classes as resource providers) are served by this small
# launcher, which the SDK module ships; Pulumi's own release bundles it beside the CLI.
sdk_dir=$(cd "$work" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$BIN/"
ok "pulumi CLI $PULUMI_VERSION built ($BIN/pulumi)"
