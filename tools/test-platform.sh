#!/usr/bin/env bash
# The platform's Compose rendering run for real on this machine's Engine (the TrueNAS
# artefact, tests/compose_e2e): builds Docker Compose from Go modules when missing, the
# images the platform needs, then runs the suite. Non-zero on the first failure.
#
# Environment:
#   HEARTH_COMPOSE       a docker-compose binary to use instead of building one
#   HEARTH_SKIP_BUILD=1  use the images as they are (no tools/build-images.sh, no app build)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

COMPOSE_VERSION=v2.40.3
COMPOSE_DIR=$HEARTH_CACHE/compose-$COMPOSE_VERSION
COMPOSE=${HEARTH_COMPOSE:-$COMPOSE_DIR/docker-compose}

[ -x .venv/bin/pytest ] || die "no .venv with pytest; run: uv sync (or make setup)"
docker info >/dev/null 2>&1 || bash tools/docker-engine.sh

if [ ! -x "$COMPOSE" ]; then
  command -v go >/dev/null 2>&1 || die "Go is needed to build Docker Compose; run tools/setup.sh (make setup)"
  step "building Docker Compose $COMPOSE_VERSION from Go modules into $COMPOSE_DIR (a few minutes, once)"
  # Its go.mod has `exclude` directives, so `go install module@version` refuses: build
  # from a writable copy of the module instead.
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" >"$src/dl.json" \
    || die "the Go module proxy did not serve github.com/docker/compose/v2@$COMPOSE_VERSION"
  moddir=$(.venv/bin/python -c 'import json,sys; print(json.load(open(sys.argv[1]))["Dir"])' "$src/dl.json")
  cp -r "$moddir" "$src/compose" && chmod -R u+w "$src/compose"
  mkdir -p "$COMPOSE_DIR"
  (cd "$src/compose" && CGO_ENABLED=0 go build -trimpath \
    -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
    -o "$COMPOSE_DIR/docker-compose.tmp" ./cmd) || die "building Docker Compose failed"
  mv "$COMPOSE_DIR/docker-compose.tmp" "$COMPOSE_DIR/docker-compose"
  ok "Docker Compose $COMPOSE_VERSION built"
fi
"$COMPOSE" version >/dev/null || die "$COMPOSE does not run"
# Also as the CLI plugin, so `docker compose` works by hand on this machine.
mkdir -p "$HOME/.docker/cli-plugins"
ln -sf "$COMPOSE" "$HOME/.docker/cli-plugins/docker-compose"

if [ -z "${HEARTH_SKIP_BUILD:-}" ]; then
  step "images: postgres redis nats minio edge"
  bash tools/build-images.sh postgres redis nats minio edge
  step "image: hearth/app:local (context app/, Docker's layer cache makes it quick when unchanged)"
  ca=$(cat /usr/local/share/ca-certificates/*.crt 2>/dev/null || true)
  docker build --network=host -q --build-arg EXTRA_CA_CERTS="$ca" \
    -f images/app/Dockerfile -t hearth/app:local app >/dev/null || die "building hearth/app:local failed"
fi

step "compose e2e: the rendered platform, up, journey, faults, replacement, down"
start=$SECONDS
HEARTH_COMPOSE_E2E=1 HEARTH_COMPOSE=$COMPOSE .venv/bin/pytest tests/compose_e2e -x -q -p no:cacheprovider
ok "compose e2e passed in $((SECONDS - start)) s; figures: .state/compose-e2e-figures.json"
cat .state/compose-e2e-figures.json >&2
