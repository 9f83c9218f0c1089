#!/usr/bin/env bash
# Everything `make test` runs after setup and lint, in three lanes that share nothing:
#   lane 1 (here):       the platform's tests, then the deployed platform (e2e);
#   lane 2 (background): ansible-lint and every molecule scenario, each on test hosts of its
#                        own, then the console's types and unit tests;
#   lane 3 (background): the app's checks, then the platform on a 3-node swarm lab.
# Lane 1 is the longest and waits on its platform much of the time; lanes 2 and 3 run at a
# lower priority (nice 10, inherited by the swarm lab's daemons and their tasks), so they
# take what lane 1 leaves idle rather than slowing it. Their output is kept in logs and
# shown when they end; non-zero if any lane failed.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

# The console's packages first: lanes 1 and 2 use them (the e2e's browser suite; its checks).
bash tools/console.sh install
logs=$HEARTH_CACHE/test-lanes
mkdir -p "$logs"

# lane NAME COMMAND...: each command (a string) in the background at nice 10, into
# $logs/NAME.log; a command runs whatever the one before it did, so every failure shows.
lane() {
  local name=$1; shift
  (
    renice -n 10 -p "$BASHPID" >/dev/null
    rc=0
    for command in "$@"; do bash -c "$command" || rc=1; done
    exit "$rc"
  ) >"$logs/$name.log" 2>&1 &
  pids[$name]=$!
}
declare -A pids
# Whatever happens in lane 1, the others do not outlive this script.
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
# The swarm role's scenario first: with three test hosts it is the longest.
roles=(swarm $(cd ansible/roles && for r in */molecule/default; do [ "${r%%/*}" = swarm ] || echo "${r%%/*}"; done))
lane ansible-console "bash tools/test-ansible.sh ${roles[*]}" "bash tools/console.sh check"
lane app-swarm "bash tools/test-app.sh" "bash tools/test-swarm.sh"

lane1=0
step "unit, engine, image and TrueNAS tests, then the e2e (alongside: $logs/ansible-console.log, $logs/app-swarm.log)"
.venv/bin/pytest tests -q || lane1=1
[ "$lane1" -ne 0 ] || bash tools/test-e2e.sh || lane1=1

failed=()
for name in ansible-console app-swarm; do
  step "waiting for lane $name"
  wait "${pids[$name]}" || failed+=("$logs/$name.log")
  cat "$logs/$name.log" >&2
done
trap - EXIT
[ "$lane1" -eq 0 ] || die "platform or e2e tests failed (see above)"
[ ${#failed[@]} -eq 0 ] || die "a lane failed (its log is above): ${failed[*]}"
ok "every test passed"
