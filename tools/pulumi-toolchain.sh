#!/usr/bin/env bash
# Give this machine the Pulumi toolchain Hearth needs: the CLI, the Python
# language host and the docker and command resource plugins, at the versions in
# tools/pulumi/versions.env.
#
# A `pulumi` of the pinned version already on PATH (the usual install) is used as
# it is, and its plugins are installed the usual way. Otherwise every part is built
# from Go modules into $HEARTH_CACHE/pulumi-<version>/ (outside the repo, kept
# between runs) and skipped when already there. A part that cannot be had is
# reported with the reason and what to do; the script then exits 3 so callers
# can tell "incomplete toolchain" from a crash.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/pulumi/versions.env"

PREFIX=$HEARTH_CACHE/pulumi-$PULUMI_VERSION
BIN=$PREFIX/bin
export PULUMI_HOME=${PULUMI_HOME:-$HEARTH_CACHE/pulumi-home}
missing=()

installed_version() { "$1" version 2>/dev/null | sed 's/^v//'; }

if command -v pulumi >/dev/null 2>&1 && [ "$(installed_version pulumi)" = "$PULUMI_VERSION" ] \
   && [ "$(command -v pulumi)" != "$BIN/pulumi" ]; then
  ok "using pulumi $PULUMI_VERSION from PATH ($(command -v pulumi))"
  pulumi_bin=$(command -v pulumi)
  for p in "docker $PULUMI_DOCKER_VERSION" "command $PULUMI_COMMAND_VERSION"; do
    set -- $p
    "$pulumi_bin" plugin ls 2>/dev/null | grep -Eq "^$1 +resource +$2 " \
      || "$pulumi_bin" plugin install resource "$1" "$2" || missing+=("pulumi-resource-$1")
  done
else
  command -v go >/dev/null 2>&1 || die "Go is needed to build Pulumi here; install Go 1.25 or newer (or install Pulumi $PULUMI_VERSION the usual way and re-run)"
  mkdir -p "$BIN"
  bash "$(dirname "$0")/pulumi/build-cli.sh" "$BIN" || missing+=("pulumi CLI")
  bash "$(dirname "$0")/pulumi/build-plugin.sh" language-python "$BIN" || missing+=("pulumi-language-python")
  bash "$(dirname "$0")/pulumi/build-plugin.sh" docker "$BIN" || missing+=("pulumi-resource-docker")
  bash "$(dirname "$0")/pulumi/build-plugin.sh" command "$BIN" || missing+=("pulumi-resource-command")
fi

if [ ${#missing[@]} -gt 0 ]; then
  warn "Pulumi toolchain incomplete, missing: ${missing[*]}"
  warn "see docs/development.md#when-a-pulumi-part-cannot-be-built; with ordinary internet access install Pulumi $PULUMI_VERSION the usual way (it brings the language host) and run: pulumi plugin install resource docker $PULUMI_DOCKER_VERSION"
  exit 3
fi
ok "Pulumi toolchain complete in $BIN"
