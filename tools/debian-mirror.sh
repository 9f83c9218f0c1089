#!/usr/bin/env bash
# Print the Debian mirror this host's apt uses, so builds reach the same one.
set -euo pipefail
if [ -n "${HEARTH_DEBIAN_MIRROR:-}" ]; then echo "$HEARTH_DEBIAN_MIRROR"; exit 0; fi
src=/etc/apt/sources.list.d/debian.sources
if [ -f "$src" ]; then
  awk '/^URIs:/ {print $2; exit}' "$src"
elif [ -f /etc/apt/sources.list ]; then
  awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list
else
  echo "no Debian apt sources found on this host; set HEARTH_DEBIAN_MIRROR to a Debian mirror URL" >&2
  exit 1
fi
