#!/usr/bin/env bash
# The admin console (console/, docs/console.md): tools/console.sh install|build|check
#   install  npm ci, skipped while node_modules matches package-lock.json and this Node.js
#   build    install, then the static export in console/out, skipped while it matches the sources
#   check    install, then what CI checks: the API types against src/api/openapi.json, types and
#            the unit tests
#   api      regenerate src/api/openapi.json from the app and the types from it
set -euo pipefail
source "$(dirname "$0")/lib.sh"
CONSOLE=$HEARTH_ROOT/console
cd "$CONSOLE"

command -v node >/dev/null 2>&1 || die "Node.js is not installed; install Node.js 20 or newer with npm"

# The hash of what decides a result: these files (what git tracks or would track under
# console/, which leaves out node_modules and out) and the Node.js version.
sources_hash() {
  { node --version
    git ls-files -z --cached --others --exclude-standard -- "$@" \
      | LC_ALL=C sort -z | xargs -0 -r sha256sum --
  } | sha256sum | cut -d' ' -f1
}

install() {
  local stamp=node_modules/.hearth-lock-sha256 want
  want=$(sources_hash package-lock.json)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    ok "console: node_modules matches package-lock.json"
    return
  fi
  step "console: npm ci (package-lock.json; no download at run time)"
  npm ci --no-audit --no-fund --loglevel=error \
    || die "npm ci failed in console/; check that the npm registry answers"
  echo "$want" >"$stamp"
}

build() {
  install
  local stamp=node_modules/.hearth-out-sha256 want
  # The browser suite (e2e/) is not part of the export.
  want=$(sources_hash . ':(exclude)e2e')
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    ok "console: out/ matches the sources"
    return
  fi
  step "console: next build (static export to console/out)"
  rm -rf out
  npm run --silent build || die "building the console failed (output above)"
  echo "$want" >"$stamp"
  ok "console: built ($(du -sh out | cut -f1))"
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
  install | build | check | api) "$1" ;;
  *) die "usage: tools/console.sh install|build|check|api" ;;
esac
