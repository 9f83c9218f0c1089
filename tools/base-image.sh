#!/usr/bin/env bash
# Make the Debian trixie base image every Dockerfile in images/ builds FROM.
# With a registry: pull debian:trixie-slim. Without one: debootstrap a minbase
# trixie from the host's Debian mirror and import it. Either way the result is
# tagged $HEARTH_BASE_IMAGE, the one build argument all Dockerfiles share.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BASE=${HEARTH_BASE_IMAGE:-hearth/base:trixie}
# The recipe's hash, kept as a label: a changed recipe rebuilds the base.
RECIPE=$(cat "$0" "$(dirname "$0")/base/"* | sha256sum | cut -c1-12)

if [ "$(docker image inspect -f '{{index .Config.Labels "hearth.base.recipe"}}' "$BASE" 2>/dev/null)" = "$RECIPE" ]; then
  ok "base image $BASE is present"
  exit 0
fi

if [ "${HEARTH_BASE_FROM:-auto}" != debootstrap ] && timeout 60 docker pull -q debian:trixie-slim >/dev/null 2>&1; then
  printf 'FROM debian:trixie-slim\nLABEL hearth.base.recipe=%s\n' "$RECIPE" | docker build -q -t "$BASE" - >/dev/null
  ok "base image $BASE tagged from debian:trixie-slim"
  exit 0
fi

mirror=$(bash "$(dirname "$0")/debian-mirror.sh")
if ! command -v debootstrap >/dev/null 2>&1; then
  step "installing debootstrap"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

root=$(mktemp -d)
trap 'as_root rm -rf "$root"' EXIT
step "debootstrap trixie (minbase) from $mirror — about 30 s"
as_root debootstrap --variant=minbase trixie "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; die "debootstrap failed (log above); check that $mirror answers"; }
rm -f "$root.log"
# Same trimming as the official slim image: no apt lists, no docs, no man pages.
as_root rm -rf "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/apt/*.bin
printf 'Types: deb\nURIs: %s\nSuites: trixie trixie-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
  "$mirror" | as_root tee "$root/etc/apt/sources.list.d/debian.sources" >/dev/null
as_root rm -f "$root/etc/apt/sources.list"
# Keep later layers as small as the official slim image's: no package caches, no
# recommends, no docs, man pages or translations installed by apt in any Dockerfile.
as_root cp "$(dirname "$0")/base/apt-slim.conf" "$root/etc/apt/apt.conf.d/90hearth-slim"
as_root cp "$(dirname "$0")/base/dpkg-slim.cfg" "$root/etc/dpkg/dpkg.cfg.d/90hearth-slim"
step "importing the root filesystem as $BASE"
as_root tar -C "$root" -c . | docker import -c 'CMD ["bash"]' -c "LABEL hearth.base.recipe=$RECIPE" - "$BASE" >/dev/null
ok "base image $BASE built with debootstrap"
