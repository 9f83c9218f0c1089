#!/usr/bin/env bash
# `make setup`: everything Hearth needs on this machine, each step skipped when
# already done. Safe to run any number of times.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

UV_VERSION=0.13.9
ACTIONLINT_VERSION=v1.7.12

# uv in a venv of its own under the cache: no global pip installs, one pinned version.
UV=$HEARTH_CACHE/uv-$UV_VERSION/bin/uv
if [ ! -x "$UV" ]; then
  step "installing uv $UV_VERSION into $HEARTH_CACHE"
  python3 -m venv "$HEARTH_CACHE/uv-$UV_VERSION"
  "$HEARTH_CACHE/uv-$UV_VERSION/bin/pip" install -q "uv==$UV_VERSION" \
    || die "could not install uv from PyPI; check that PyPI answers"
fi
step "Python environment (.venv) from uv.lock"
"$UV" sync --frozen --quiet || die "uv sync failed; if pyproject.toml changed, run: $UV lock"

bash tools/docker-engine.sh
bash tools/base-image.sh
bash tools/build-images.sh

# Exit 3 means "built what could be built": reported there, fatal only for deployments.
bash tools/pulumi-toolchain.sh || { rc=$?; [ $rc -eq 3 ] || exit $rc; }

ACTIONLINT=$HEARTH_CACHE/actionlint-$ACTIONLINT_VERSION/actionlint
if [ ! -x "$ACTIONLINT" ]; then
  step "building actionlint $ACTIONLINT_VERSION from Go modules"
  GOBIN=$(dirname "$ACTIONLINT") go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
    || die "building actionlint failed; check that the Go module proxy answers"
fi
ok "setup complete"
