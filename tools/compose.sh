#!/usr/bin/env bash
# Make sure `docker compose` answers at a supported version: the system's plugin
# when it is new enough, otherwise Docker Compose built from Go modules (cached
# under $HEARTH_CACHE) and linked in as the CLI plugin of the user running setup.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/versions.env"

MIN_MAJOR=2 MIN_MINOR=24  # `up --wait` with `--wait-timeout`, `down` by project name
supported() {
  local v
  v=$(docker compose version --short 2>/dev/null) || return 1
  v=${v#v}
  local major=${v%%.*} rest=${v#*.}
  local minor=${rest%%.*}
  [ "$major" -gt "$MIN_MAJOR" ] || { [ "$major" -eq "$MIN_MAJOR" ] && [ "$minor" -ge "$MIN_MINOR" ]; }
}

if supported; then
  ok "docker compose $(docker compose version --short) is present"
  exit 0
fi

DIR=$HEARTH_CACHE/compose-$COMPOSE_VERSION
BIN=$DIR/docker-compose
if [ ! -x "$BIN" ]; then
  command -v go >/dev/null 2>&1 || die "Go is needed to build Docker Compose here (or install the docker-compose-plugin package)"
  step "building Docker Compose $COMPOSE_VERSION from Go modules into $DIR (a few minutes, once)"
  # Its go.mod has `exclude` directives, so `go install module@version` refuses: build
  # from a writable copy of the module instead.
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  moddir=$(GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p') \
    || die "the Go module proxy did not serve github.com/docker/compose/v2@$COMPOSE_VERSION"
  cp -r "$moddir" "$src/compose" && chmod -R u+w "$src/compose"
  mkdir -p "$DIR"
  (cd "$src/compose" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$BIN.tmp" ./cmd) || die "building Docker Compose failed"
  mv "$BIN.tmp" "$BIN"
fi
mkdir -p "$HOME/.docker/cli-plugins"
ln -sf "$BIN" "$HOME/.docker/cli-plugins/docker-compose"
supported || die "$BIN does not answer as \`docker compose\`"
ok "docker compose $COMPOSE_VERSION ready ($BIN)"
