#!/usr/bin/env bash
# Build the service images: tools/build-images.sh [service ...]
#
# Each images/<service>/ with a Dockerfile is built as hearth/<service>:local
# (no service named: all of them), FROM $HEARTH_BASE_IMAGE (default
# hearth/base:trixie, made first by tools/base-image.sh). An image whose build
# context, base image and build arguments are unchanged since its last build
# is skipped: the image carries a label with their hash.
#
# The build context is images/<service>/, unless the Dockerfile names another
# directory (relative to the repository root) on a line of its own:
#   # hearth-build-context: app
# An image built FROM or COPY --from another hearth/<name>:local is rebuilt when that one is:
# its id counts in the hash (images are built in name order; name such an image after
# what it depends on).
#
# Environment:
#   HEARTH_BASE_IMAGE      base image (default hearth/base:trixie)
#   HEARTH_FORCE_BUILD=1   build even when the hash matches (Docker's layer cache still applies)
#   HEARTH_NO_CACHE=1      build without Docker's layer cache (cold-build timing)
#   HEARTH_EXTRA_CA_CERTS  PEM files to trust in builder stages that declare
#                          ARG EXTRA_CA_CERTS (default: the host's locally added
#                          CAs, /usr/local/share/ca-certificates/*.crt), for
#                          TLS-inspecting proxies between the build and a registry
set -euo pipefail
source "$(dirname "$0")/lib.sh"

# Both test lanes build before they deploy: one builds, the other then finds it done.
mkdir -p "$HEARTH_CACHE"
exec 9>"$HEARTH_CACHE/build-images.lock"
flock 9

BASE=${HEARTH_BASE_IMAGE:-hearth/base:trixie}
IMAGES_DIR=$HEARTH_ROOT/images
HASH_LABEL=hearth.build.context-sha256

command -v docker >/dev/null 2>&1 || die "docker is not installed; run: bash tools/docker-engine.sh"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer; run: bash tools/docker-engine.sh"

# Every directory under images/ with a Dockerfile, in name order.
available=()
for dockerfile in "$IMAGES_DIR"/*/Dockerfile; do
  [ -f "$dockerfile" ] || continue
  available+=("$(basename "$(dirname "$dockerfile")")")
done

if [ "$#" -gt 0 ]; then
  services=("$@")
else
  services=("${available[@]}")
fi
[ "${#services[@]}" -gt 0 ] || die "no images/*/Dockerfile found under $IMAGES_DIR"
for service in "${services[@]}"; do
  # The name becomes the tag hearth/<service>:local: lower case, no path.
  [[ "$service" =~ ^[a-z0-9][a-z0-9._-]*$ ]] \
    || die "'$service' is not a service name (images/<name>/ with lower-case letters, digits, . _ -)"
  [ -f "$IMAGES_DIR/$service/Dockerfile" ] \
    || die "no images/$service/Dockerfile; services with a Dockerfile: ${available[*]:-none}"
done

bash "$HEARTH_ROOT/tools/base-image.sh"
base_id=$(docker image inspect --format '{{.Id}}' "$BASE") \
  || die "base image $BASE is missing after tools/base-image.sh"

# Extra CA certificates, concatenated; only builder stages that ask for them
# (ARG EXTRA_CA_CERTS) get them, and never the final image.
extra_ca=""
# Unquoted on purpose: a list of files, or the glob when unset.
for pem in ${HEARTH_EXTRA_CA_CERTS:-/usr/local/share/ca-certificates/*.crt}; do
  [ -f "$pem" ] || continue
  extra_ca+=$(<"$pem")$'\n'
done

# The files of a build context: what git tracks or would track there (so
# .venv/, caches and other ignored files do not count), or every file outside
# a git work tree.
context_files() {
  local ctx=$1
  if git -C "$ctx" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$ctx" ls-files -z --cached --others --exclude-standard -- . \
      | while IFS= read -r -d "" f; do if [ -f "$ctx/$f" ]; then printf "%s\0" "$f"; fi; done
  else
    (cd "$ctx" && find . -type f -print0)
  fi
}

# The other hearth images a Dockerfile builds on (FROM, COPY --from).
hearth_images() {
  grep -v '^ *#' "$1" | grep -o 'hearth/[a-z0-9._-]*:local' | sort -u || true
}

# Hash of what decides the image: the Dockerfile, every file of the context
# (path, mode, content), the base image id, the ids of the other hearth images it
# names and the build arguments.
context_hash() {
  local dockerfile=$1 ctx=$2 extra=$3 files=() image
  mapfile -d '' -t files < <(context_files "$ctx" | LC_ALL=C sort -z)
  {
    sha256sum <"$dockerfile"
    if [ "${#files[@]}" -gt 0 ]; then
      (cd "$ctx" && stat --format '%n %a' -- "${files[@]}" && sha256sum -- "${files[@]}")
    fi
    printf 'base=%s\n' "$base_id"
    for image in $(hearth_images "$dockerfile"); do
      printf '%s=%s\n' "$image" "$(docker image inspect --format '{{.Id}}' "$image")"
    done
    printf 'extra_ca=%s\n' "$extra"
  } | sha256sum | cut -d' ' -f1
}

built=0 skipped=0
for service in "${services[@]}"; do
  dockerfile=$IMAGES_DIR/$service/Dockerfile
  ctx=$IMAGES_DIR/$service
  named=$(sed -n 's/^# hearth-build-context: *\([^ ]*\) *$/\1/p' "$dockerfile" | head -n 1)
  if [ -n "$named" ]; then
    ctx=$HEARTH_ROOT/$named
    [ -d "$ctx" ] || die "images/$service/Dockerfile names build context '$named', which is not a directory under $HEARTH_ROOT"
  fi
  for image in $(hearth_images "$dockerfile"); do
    docker image inspect "$image" >/dev/null 2>&1 \
      || die "images/$service needs $image; build it first: bash tools/build-images.sh ${image#hearth/}"
  done
  tag=hearth/$service:local
  wants_ca=""
  if grep -q '^ARG EXTRA_CA_CERTS' "$dockerfile" && [ -n "$extra_ca" ]; then
    wants_ca=$extra_ca
  fi
  hash=$(context_hash "$dockerfile" "$ctx" "$wants_ca")
  current=$(docker image inspect --format "{{ index .Config.Labels \"$HASH_LABEL\" }}" "$tag" 2>/dev/null || true)
  if [ "$current" = "$hash" ] && [ -z "${HEARTH_FORCE_BUILD:-}" ] && [ -z "${HEARTH_NO_CACHE:-}" ]; then
    ok "$tag is up to date (build context unchanged)"
    skipped=$((skipped + 1))
    continue
  fi

  # --force-rm: no intermediate container left behind by a failed step.
  args=(--network=host --force-rm --build-arg "BASE_IMAGE=$BASE" --label "$HASH_LABEL=$hash" --tag "$tag")
  [ -n "$wants_ca" ] && args+=(--build-arg "EXTRA_CA_CERTS=$wants_ca")
  [ -n "${HEARTH_NO_CACHE:-}" ] && args+=(--no-cache)

  log=${TMPDIR:-/tmp}/hearth-build-$service.log
  step "building $tag from images/$service/Dockerfile, context ${ctx#"$HEARTH_ROOT"/} (log: $log)"
  start=$SECONDS
  # The steps as progress (the classic builder's "Step n/m : RUN ...", or
  # BuildKit's "#n [stage n/m] RUN ..." where buildx is installed); the whole
  # output goes to the log.
  set +e
  docker build "${args[@]}" --file "$dockerfile" "$ctx" 2>&1 | tee "$log" \
    | sed -u -n -E 's/^((Step [0-9]+\/[0-9]+ :|#[0-9]+ \[[^]]*\]) (FROM|RUN|COPY).{0,90}).*/    \1/p' >&2
  status=${PIPESTATUS[0]}
  set -e
  if [ "$status" -ne 0 ]; then
    tail -n 30 "$log" >&2
    die "building $tag failed (docker build exited $status; last lines above, full log in $log)"
  fi
  size=$(docker image inspect --format '{{.Size}}' "$tag")
  ok "$tag built in $((SECONDS - start)) s ($((size / 1000000)) MB)"
  built=$((built + 1))
done
ok "images: $built built, $skipped up to date"
