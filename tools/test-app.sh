#!/usr/bin/env bash
# The app's checks: venv from app/uv.lock, the data-service images its integration tests
# start, then ruff, mypy (strict) and pytest. Non-zero on the first failure.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$HEARTH_ROOT"

UV=$(command -v uv || true)
if [ -z "$UV" ] && [ -x "$HEARTH_CACHE/uv-0.13.9/bin/uv" ]; then UV=$HEARTH_CACHE/uv-0.13.9/bin/uv; fi
[ -n "$UV" ] || die "uv not found; run tools/setup.sh (make setup) first"

step "app venv (app/.venv) from app/uv.lock"
(cd app && "$UV" sync --frozen --quiet) || die "uv sync failed; if app/pyproject.toml changed, run: cd app && uv lock"

step "Docker Engine, the data-service images and the app image"
docker info >/dev/null 2>&1 || bash tools/docker-engine.sh
bash tools/base-image.sh
# The integration tests start postgres, redis, nats and s3; tests/integration/test_image.py
# runs hearth/app:local against them.
bash tools/build-images.sh postgres redis nats s3 app

cd app
step "ruff"
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
# The benchmark lives outside app/ and follows the repository's ruff settings.
(cd .. && app/.venv/bin/ruff check bench/app && app/.venv/bin/ruff format --check bench/app)
step "mypy (strict)"
.venv/bin/mypy
.venv/bin/mypy ../bench/app/run.py
step "the console's copy of the OpenAPI document (console/src/api/openapi.json) is the app's"
.venv/bin/hearth-app openapi | cmp -s - ../console/src/api/openapi.json \
  || die "console/src/api/openapi.json differs from the app's OpenAPI document; run: bash tools/console.sh api"
step "pytest (unit + integration against real PostgreSQL, Redis, NATS JetStream, S3)"
if [ "$#" -eq 0 ]; then
  # The whole suite holds a coverage floor; a selection (-k, a path) does not.
  .venv/bin/pytest --cov=hearth_app --cov-report=term:skip-covered --cov-fail-under=80
else
  .venv/bin/pytest "$@"
fi
ok "app checks passed"
