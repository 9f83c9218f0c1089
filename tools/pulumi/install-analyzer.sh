#!/usr/bin/env bash
# Install the launcher of Python policy packs (pulumi-analyzer-policy-python, beside this
# script) into Pulumi's plugin cache, where the CLI finds it for `--policy-pack policies`
# (ADR 0008). Not on PATH: a plugin found there makes every run warn. Skipped when the
# installed copy is the same.
set -euo pipefail
source "$(dirname "$0")/../lib.sh"
source "$(dirname "$0")/versions.env"

dir=${PULUMI_HOME:-$HOME/.pulumi}/plugins/analyzer-policy-python-v$PULUMI_VERSION
launcher=$(dirname "$0")/pulumi-analyzer-policy-python
if cmp -s "$launcher" "$dir/pulumi-analyzer-policy-python"; then
  ok "policy pack launcher is installed ($dir)"
  exit 0
fi
mkdir -p "$dir"
install -m 0755 "$launcher" "$dir/"
ok "policy pack launcher installed ($dir)"
