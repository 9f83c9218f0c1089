#!/usr/bin/env bash
# `make setup`: everything Hearth needs on this machine, each step skipped when
# already done. Safe to run any number of times; a second run takes seconds.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/versions.env"
cd "$HEARTH_ROOT"
start=$SECONDS

# uv in a venv of its own under the cache: no global pip installs, one pinned version.
UV=$HEARTH_CACHE/uv-$UV_VERSION/bin/uv
if [ ! -x "$UV" ]; then
  step "installing uv $UV_VERSION into $HEARTH_CACHE"
  python3 -m venv "$HEARTH_CACHE/uv-$UV_VERSION"
  "$HEARTH_CACHE/uv-$UV_VERSION/bin/pip" install -q "uv==$UV_VERSION" \
    || die "could not install uv from PyPI; check that PyPI answers"
fi
# uv sync is quick when .venv already matches uv.lock, and repairs it when not.
"$UV" sync --frozen --quiet || die "uv sync failed; if pyproject.toml changed, run: $UV lock"

bash tools/docker-engine.sh
bash tools/compose.sh
bash tools/build-images.sh
bash tools/pulumi-toolchain.sh
# The launcher Pulumi starts for the security baseline (policies/, ADR 0008).
bash tools/pulumi/install-analyzer.sh

ACTIONLINT=$HEARTH_CACHE/actionlint-$ACTIONLINT_VERSION/actionlint
if [ ! -x "$ACTIONLINT" ]; then
  step "building actionlint $ACTIONLINT_VERSION from Go modules"
  GOBIN=$(dirname "$ACTIONLINT") go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION" \
    || die "building actionlint failed; check that the Go module proxy answers"
fi
# The rule unit tests (tests/monitoring) run the vmalert-tool of the monitoring image:
# the same build as the vmalert that evaluates the rules, copied out rather than rebuilt.
VM_VERSION=$(sed -n 's/^ARG VICTORIAMETRICS_VERSION=//p' images/monitoring/Dockerfile)
VMALERT_TOOL=$HEARTH_CACHE/vmalert-tool-$VM_VERSION/vmalert-tool
if [ ! -x "$VMALERT_TOOL" ]; then
  step "copying vmalert-tool $VM_VERSION out of hearth/monitoring:local"
  mkdir -p "$(dirname "$VMALERT_TOOL")"
  cid=$(docker create hearth/monitoring:local) || die "hearth/monitoring:local is missing"
  docker cp "$cid:/usr/local/bin/vmalert-tool" "$VMALERT_TOOL.tmp" \
    && mv "$VMALERT_TOOL.tmp" "$VMALERT_TOOL" || { docker rm "$cid" >/dev/null; die "copying vmalert-tool failed"; }
  docker rm "$cid" >/dev/null
fi
# Headless Chromium, for the console's browser tests, the e2e's pictures of the monitoring UIs
# (tests/e2e/browser.py) and `make screenshots`: Debian's package, as no test tool may download
# a browser here.
if [ ! -x /usr/bin/chromium ]; then
  step "installing Debian's chromium (headless, for the browser tests and screenshots)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
    || die "apt-get could not install chromium; install it by hand and re-run"
fi
ok "setup complete in $((SECONDS - start)) s"
