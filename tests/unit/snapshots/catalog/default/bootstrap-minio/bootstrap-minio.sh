#!/bin/bash
# Rendered from hearth/catalog/templates/minio/bootstrap.sh.j2.
# Bootstrap of MinIO through its admin API (mc): the app's bucket, a policy limited to it,
# and the app's access key with that policy. Idempotent: runs on every deployment.
set -euo pipefail
urlencode() {
  local s=$1 out="" c i
  for ((i = 0; i < ${#s}; i++)); do
    c=${s:i:1}
    case "$c" in [A-Za-z0-9._~-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
  done
  printf '%s' "$out"
}
# Credentials reach mc through its environment (MC_HOST_<alias>), never a command line.
password=$(urlencode "$(</run/secrets/minio_root_password)")
MC_HOST_hearth="http://${MINIO_ROOT_USER}:${password}@minio:9000"
export MC_HOST_hearth
mc --quiet mb --ignore-existing hearth/hearth
mc --quiet admin policy create hearth hearth-app /etc/hearth/app-s3-policy.json
# `user add` on an existing user sets its secret again: the secret file is the truth.
# (mc takes it only as an argument: visible to this container's own processes alone.)
mc --quiet admin user add hearth hearth-app "$(</run/secrets/app_s3_secret_key)"
if ! mc --json admin user info hearth hearth-app \
    | grep -Eq '"policyName": *"([^"]*,)?hearth-app(,|")'; then
  mc --quiet admin policy attach hearth hearth-app --user hearth-app
fi
echo "bootstrap-minio: bucket hearth and key hearth-app ready"
