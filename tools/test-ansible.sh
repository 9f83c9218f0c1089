#!/usr/bin/env bash
# Lint and test the Ansible side of Hearth:
#   1. make sure Docker answers and the systemd test-host images exist (built if missing or,
#      for images/testhost-docker, changed);
#   2. ansible-lint --profile production over ansible/ (no rule skipped);
#   3. `molecule test` for every role that has a molecule/default scenario, a few at a time
#      (each starts its own systemd test host, named after its role, and mostly waits on it).
# Usage: tools/test-ansible.sh [ROLE...]      (default: every role found under ansible/roles)
# Env:   HEARTH_MOLECULE_JOBS=N runs N scenarios at once (default 3).
#        HEARTH_VERBOSE=1 streams molecule's output (one scenario at a time) instead of logs.
#        HEARTH_SKIP_LINT=1 skips step 2 (for quick iterations on one role).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE=${HEARTH_BASE_IMAGE:-hearth/base:trixie}
export HEARTH_TESTHOST_IMAGE=${HEARTH_TESTHOST_IMAGE:-hearth/testhost:trixie}
VENV=$HEARTH_ROOT/.venv
LOGS=$HEARTH_CACHE/test-ansible
ROLES_DIR=$HEARTH_ROOT/ansible/roles

[ -x "$VENV/bin/molecule" ] || die "molecule is missing from $VENV: run 'uv sync' in $HEARTH_ROOT"
# molecule and testinfra call ansible-* by name: the virtualenv's bin/ must come first.
export PATH="$VENV/bin:$PATH"
mkdir -p "$LOGS"
started=$(date +%s)

# --- 1. Docker and the test host image -------------------------------------------
docker info >/dev/null 2>&1 || bash "$HEARTH_ROOT/tools/docker-engine.sh"
if docker image inspect "$HEARTH_TESTHOST_IMAGE" >/dev/null 2>&1; then
  ok "test host image $HEARTH_TESTHOST_IMAGE is present"
else
  bash "$HEARTH_ROOT/tools/base-image.sh"
  step "building $HEARTH_TESTHOST_IMAGE FROM $BASE (images/testhost)"
  docker build --network=host --build-arg BASE_IMAGE="$BASE" -t "$HEARTH_TESTHOST_IMAGE" \
    "$HEARTH_ROOT/images/testhost" >"$LOGS/testhost-build.log" 2>&1 \
    || { tail -30 "$LOGS/testhost-build.log" >&2; die "test host image build failed (log: $LOGS/testhost-build.log)"; }
  ok "built $HEARTH_TESTHOST_IMAGE"
fi
# The test host with Docker's packages preinstalled (images/testhost-docker), for scenarios
# that need Docker but do not test installing it. Rebuilt when its directory or the test
# host image changes: the image carries their hash as a label, as in tools/build-images.sh.
export HEARTH_TESTHOST_DOCKER_IMAGE=${HEARTH_TESTHOST_DOCKER_IMAGE:-hearth/testhost-docker:trixie}
docker_ctx=$HEARTH_ROOT/images/testhost-docker
docker_hash=$( { (cd "$docker_ctx" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  docker image inspect --format '{{.Id}}' "$HEARTH_TESTHOST_IMAGE"; } | sha256sum | cut -d' ' -f1)
if [ "$(docker image inspect --format '{{ index .Config.Labels "hearth.build.context-sha256" }}' \
      "$HEARTH_TESTHOST_DOCKER_IMAGE" 2>/dev/null || true)" = "$docker_hash" ]; then
  ok "test host image $HEARTH_TESTHOST_DOCKER_IMAGE is up to date"
else
  step "building $HEARTH_TESTHOST_DOCKER_IMAGE FROM $HEARTH_TESTHOST_IMAGE (images/testhost-docker)"
  docker build --network=host --build-arg TESTHOST_IMAGE="$HEARTH_TESTHOST_IMAGE" \
    --label "hearth.build.context-sha256=$docker_hash" -t "$HEARTH_TESTHOST_DOCKER_IMAGE" \
    "$docker_ctx" >"$LOGS/testhost-docker-build.log" 2>&1 \
    || { tail -30 "$LOGS/testhost-docker-build.log" >&2; die "test host image build failed (log: $LOGS/testhost-docker-build.log)"; }
  ok "built $HEARTH_TESTHOST_DOCKER_IMAGE"
fi

# --- 2. ansible-lint ------------------------------------------------------------------
failed=()
if [ -z "${HEARTH_SKIP_LINT:-}" ]; then
  step "ansible-lint --profile production over ansible/"
  t0=$(date +%s)
  if (cd "$HEARTH_ROOT/ansible" && ansible-lint --profile production); then
    ok "ansible-lint passed ($(( $(date +%s) - t0 )) s)"
  else
    warn "ansible-lint failed ($(( $(date +%s) - t0 )) s)"
    failed+=("ansible-lint")
  fi
fi

# --- 3. molecule, role by role -----------------------------------------------------------
if [ "$#" -gt 0 ]; then
  roles=("$@")
else
  # Found, not listed: roles added by anyone are tested as soon as they have a scenario.
  roles=()
  for dir in "$ROLES_DIR"/*/; do
    if [ -f "$dir/molecule/default/molecule.yml" ]; then roles+=("$(basename "$dir")"); fi
  done
fi
[ "${#roles[@]}" -gt 0 ] || die "no role with a molecule/default scenario under $ROLES_DIR"
step "molecule test for ${#roles[@]} role(s): ${roles[*]}"

jobs=${HEARTH_MOLECULE_JOBS:-3}
[ -z "${HEARTH_VERBOSE:-}" ] || jobs=1

# One scenario; its outcome goes to $LOGS/molecule-ROLE.result as "pass|FAIL SECONDS".
scenario() {
  local role=$1 dir=$ROLES_DIR/$1 log=$LOGS/molecule-$1.log t0 rc
  t0=$(date +%s)
  set +e
  if [ -n "${HEARTH_VERBOSE:-}" ]; then
    (cd "$dir" && molecule test) 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
  else
    (cd "$dir" && NO_COLOR=1 ANSIBLE_NOCOLOR=1 PY_COLORS=0 molecule test) >"$log" 2>&1
    rc=$?
  fi
  set -e
  if [ "$rc" -eq 0 ]; then echo "pass $(( $(date +%s) - t0 ))"; else echo "FAIL $(( $(date +%s) - t0 ))"; fi \
    >"$LOGS/molecule-$role.result"
}

for role in "${roles[@]}"; do
  [ -f "$ROLES_DIR/$role/molecule/default/molecule.yml" ] || die "role '$role' has no molecule/default scenario"
  rm -f "$LOGS/molecule-$role.result"
done
running=0
for role in "${roles[@]}"; do
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  step "molecule test: $role (log: $LOGS/molecule-$role.log)"
  scenario "$role" &
  running=$((running + 1))
done
wait

summary=()
for role in "${roles[@]}"; do
  read -r outcome secs <"$LOGS/molecule-$role.result" || { outcome=FAIL; secs=0; }
  summary+=("  $outcome  ${secs}s  $role")
  if [ "$outcome" = pass ]; then
    ok "$role passed in ${secs} s"
  else
    [ -n "${HEARTH_VERBOSE:-}" ] || tail -60 "$LOGS/molecule-$role.log" >&2
    warn "$role FAILED in ${secs} s (full log: $LOGS/molecule-$role.log)"
    failed+=("$role")
  fi
done

printf '\nAnsible tests, %s s in all:\n' "$(( $(date +%s) - started ))" >&2
printf '%s\n' "${summary[@]}" >&2
if [ "${#failed[@]}" -gt 0 ]; then
  die "failed: ${failed[*]}"
fi
ok "ansible-lint and every molecule scenario passed"
