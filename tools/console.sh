#!/usr/bin/env bash
# The admin console's checks on this machine (console/, docs/console.md); the image
# hearth/console:local builds the export itself (images/console/Dockerfile).
#   install  npm ci, skipped while node_modules matches package-lock.json and this Node.js
#   check    install, then what CI checks: the API types against src/api/openapi.json, types and
#            the unit tests
#   api      regenerate src/api/openapi.json from the app and the types from it
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONSOLE=$HEARTH_ROOT/console
cd "$CONSOLE"

# Vite 8 and jsdom want Node.js 20.19 or newer: the distribution's when it is new enough
# (Debian trixie's is), else the operator installs one.
node_ok() { node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)' 2>/dev/null; }
if ! node_ok; then
  step "installing the distribution's Node.js and npm (for the console's tests)"
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null || true
  node_ok || die "the console's tests need Node.js 20.19 or newer with npm (found: $(node --version 2>/dev/null || echo none)); install one and re-run"
fi

install() {
  local stamp=node_modules/.hearth-lock-sha256 want
  want=$({ node --version; sha256sum package-lock.json; } | sha256sum | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    ok "console: node_modules matches package-lock.json"
    return
  fi
  step "console: npm ci from package-lock.json"
  npm ci --no-audit --no-fund --loglevel=error \
    || die "npm ci failed in console/; check that the npm registry answers"
  echo "$want" >"$stamp"
}

check() {
  install
  step "console: API types against src/api/openapi.json (tools/test-app.sh checks that against the app)"
  npm run --silent api:check || die "src/api/schema.d.ts is stale; run: bash tools/console.sh api"
  step "console: typecheck"
  npm run --silent typecheck
  step "console: unit tests (vitest)"
  npm run --silent test
}

api() {
  install
  (cd "$HEARTH_ROOT/app" && .venv/bin/hearth-app openapi) >src/api/openapi.json
  npm run --silent api:types
  ok "console: src/api/openapi.json and schema.d.ts regenerated"
}

case "${1:-}" in
  install | check | api) "$1" ;;
  *) die "usage: tools/console.sh install|check|api" ;;
esac
