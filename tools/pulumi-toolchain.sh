#!/usr/bin/env bash
# Give this machine the Pulumi CLI Hearth needs, at the version in
# tools/pulumi/versions.env. Hearth's resources are Python dynamic providers run
# inline through the Automation API: no provider plugin and no language host are
# needed, only the CLI and its dynamic-provider launcher.
#
# A `pulumi` of the pinned version already on PATH (the usual install) is used as
# it is. Otherwise the CLI is built from Go modules into
# $HEARTH_CACHE/pulumi-<version>/bin (outside the repo, kept between runs) and
# skipped when already there.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pulumi/versions.env"

BIN=$HEARTH_CACHE/pulumi-$PULUMI_VERSION/bin

if command -v pulumi >/dev/null 2>&1 && [ "$(command -v pulumi)" != "$BIN/pulumi" ] \
   && [ "$(pulumi version 2>/dev/null)" = "v$PULUMI_VERSION" ]; then
  ok "using pulumi $PULUMI_VERSION from PATH ($(command -v pulumi))"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "Go is needed to build Pulumi here; install Go 1.25 or newer (or install Pulumi $PULUMI_VERSION the usual way and re-run)"
mkdir -p "$BIN"
bash "$(dirname "$0")/pulumi/build-cli.sh" "$BIN"
