#!/usr/bin/env bash
# The platform on a swarm for real: a 3-node lab on this machine (tools/swarm-lab.sh), one
# `pulumi up` of a throwaway swarm stack through the Automation API (tests/swarm), the
# journey, a node lost, a rolling update under load, drift, destroy; then the lab goes.
# Needs `make setup` and the images (built here when missing, skipped when current).
# Figures in .state/swarm-figures.json.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

[ -x .venv/bin/pytest ] || die "no .venv with pytest; run: make setup"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer; run: make setup"
bash tools/build-images.sh

step "swarm: a 3-node lab, pulumi up of a throwaway swarm stack, node loss, rolling update, destroy"
start=$SECONDS
HEARTH_SWARM=1 .venv/bin/pytest tests/swarm -x -q -p no:cacheprovider
ok "swarm tests passed in $((SECONDS - start)) s; figures: .state/swarm-figures.json"
cat .state/swarm-figures.json >&2
