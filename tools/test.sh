#!/usr/bin/env bash
# Everything `make test` runs after setup and lint, in two lanes that share nothing:
#   lane 1 (here):       the platform's tests, the app's, then the deployed platform (e2e);
#   lane 2 (background): the swarm platform on its 3-node lab, then ansible-lint and the
#                        molecule scenarios, each on a test host of its own, then the
#                        console's types and unit tests.
# The swarm lab and molecule spend most of their time waiting on their daemons and test
# hosts, so the lanes overlap well even on two cores; lane 2 ends before the e2e's
# timing-sensitive part. Lane 2's output is kept in a log and shown when it ends; non-zero if any failed.
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
  bash tools/test-swarm.sh || rc=1
  bash tools/test-ansible.sh || rc=1
  bash tools/console.sh check || rc=1
  exit "$rc"
) >"$ansible_log" 2>&1 &
ansible_pid=$!
# Whatever happens in lane 1, lane 2 does not outlive this script.
trap 'kill "$ansible_pid" 2>/dev/null || true' EXIT

lane1=0
step "unit, engine, image and TrueNAS tests (the swarm lab, Ansible, molecule and the console's unit tests run alongside: $ansible_log)"
.venv/bin/pytest tests -q || lane1=1
[ "$lane1" -ne 0 ] || bash tools/test-app.sh || lane1=1
[ "$lane1" -ne 0 ] || bash tools/test-e2e.sh || lane1=1

step "waiting for the swarm, Ansible and console lane"
lane2=0
wait "$ansible_pid" || lane2=1
trap - EXIT
cat "$ansible_log" >&2
[ "$lane1" -eq 0 ] || die "platform, app or e2e tests failed (see above)"
[ "$lane2" -eq 0 ] || die "swarm, Ansible or console tests failed (log above: $ansible_log)"
ok "every test passed"
