#!/bin/bash
# Rendered from hearth/catalog/templates/s3/bootstrap.sh.j2.
# Bootstrap of the S3 gateway (images/s3, hearth-s3-bootstrap): the app's bucket, owned by
# root; the app's key (role `user`: no bucket creation, no admin API, no other bucket);
# a bucket policy granting that key object reads, writes, deletes, listing and multipart
# clean-up in its bucket. Idempotent: runs on every deployment, and sets the key's secret
# from the secret file again. Secrets are read from files by the tool, never arguments.
set -euo pipefail
export S3_ENDPOINT=http://s3:7070
export S3_ADMIN_ENDPOINT=http://s3:7071
export ROOT_ACCESS_KEY=hearth-root
export ROOT_SECRET_KEY_FILE=/run/secrets/s3_root_secret_key
export S3_BUCKET=hearth
export APP_ACCESS_KEY=hearth-app
export APP_SECRET_KEY_FILE=/run/secrets/app_s3_secret_key
exec hearth-s3-bootstrap
