#!/usr/bin/env bash
# The platform deployed for real: one `pulumi up` of a throwaway local stack through the
# Automation API (tests/e2e), then every e2e suite against it, then destroy and purge.
# Needs `make setup` (Docker, Compose, the images, the Pulumi CLI). Non-zero on the first
# failure; figures in .state/e2e-figures.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

[ -x .venv/bin/pytest ] || die "no .venv with pytest; run: make setup"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer; run: make setup"

step "e2e: pulumi up of a throwaway stack, journey, faults, drift, changes, destroy"
start=$SECONDS
HEARTH_E2E=1 .venv/bin/pytest tests/e2e -x -q -p no:cacheprovider
ok "e2e passed in $((SECONDS - start)) s; figures: .state/e2e-figures.json"
cat .state/e2e-figures.json >&2
