#!/usr/bin/env bash
# Everything `make test` runs after setup and lint, in two lanes that share nothing:
#   lane 1 (here):       the platform's tests, the app's, then the deployed platform (e2e);
#   lane 2 (background): ansible-lint and the molecule scenarios, each on a test host of
#                        its own (the swarm role's with `make test-swarm`), then the
#                        console's types and unit tests.
# Molecule spends most of its time waiting on its test hosts, so the lanes overlap well
# even on two cores. Lane 2's output is kept in a log and shown when it ends; non-zero if
# any failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

# The console's packages first: both lanes use them (its checks; the e2e's browser suite).
bash tools/console.sh install
mkdir -p "$HEARTH_CACHE/test-ansible"
ansible_log=$HEARTH_CACHE/test-ansible/lane.log
# Each part runs whatever the other did: both failures show.
(
  rc=0
  roles=()
  for scenario in ansible/roles/*/molecule/default; do
    role=${scenario#ansible/roles/}; role=${role%%/*}
    # The swarm suites (the role's three test hosts, the 3-node lab) run with
    # `make test-swarm`: on two cores they would take CI past its 20 minutes.
    [ "$role" = swarm ] || roles+=("$role")
  done
  bash tools/test-ansible.sh "${roles[@]}" || rc=1
  bash tools/console.sh check || rc=1
  exit "$rc"
) >"$ansible_log" 2>&1 &
ansible_pid=$!
# Whatever happens in lane 1, lane 2 does not outlive this script.
trap 'kill "$ansible_pid" 2>/dev/null || true' EXIT

lane1=0
step "unit, engine, image and TrueNAS tests (Ansible, molecule and the console's unit tests run alongside: $ansible_log)"
.venv/bin/pytest tests -q || lane1=1
[ "$lane1" -ne 0 ] || bash tools/test-app.sh || lane1=1
[ "$lane1" -ne 0 ] || bash tools/test-e2e.sh || lane1=1

step "waiting for the Ansible and console lane"
lane2=0
wait "$ansible_pid" || lane2=1
trap - EXIT
cat "$ansible_log" >&2
[ "$lane1" -eq 0 ] || die "platform, app or e2e tests failed (see above)"
[ "$lane2" -eq 0 ] || die "Ansible or console tests failed (log above: $ansible_log)"
ok "every test passed"
