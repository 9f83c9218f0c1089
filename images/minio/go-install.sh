#!/bin/bash
# go-install.sh MODULE PSEUDO_VERSION: build MODULE's main package at a
# pseudo-version (v0.0.0-YYYYMMDDhhmmss-commit) into $GOPATH/bin, stamping
# the version variables that MinIO's and mc's release builds set, so
# `minio --version` and `mc --version` name the commit they were built from.
set -euo pipefail
module=$1 version=$2
stamp=${version#v0.0.0-}
ts=${stamp%-*}
commit=${stamp#*-}
case "$ts$commit" in
  *[!0-9a-f]* | "") echo "go-install.sh: $version is not a pseudo-version" >&2; exit 1 ;;
esac
rfc="${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:8:2}:${ts:10:2}:${ts:12:2}Z"
pkg=$module/cmd
go install -ldflags "-s -w -X $pkg.Version=$rfc -X $pkg.ReleaseTag=DEVELOPMENT.${rfc//:/-} \
  -X $pkg.CommitID=$commit -X $pkg.ShortCommitID=$commit -X $pkg.CopyrightYear=${ts:0:4}" \
  "$module@$version"
