"""The services a stack runs, as specs built from its settings.

The platform, in start order:

- data: `postgres`, `redis` (Valkey), `nats` (JetStream), `minio` (S3), each on `backend`
  only (MinIO also on `storage`, where only the edge reaches it);
- bootstrap one-shots, idempotent, run on every deployment: `bootstrap-postgres` (a role and a
  database per consumer, the role owning only its database) and `bootstrap-minio` (the app's
  bucket, a policy limited to it and the app's access key). They reuse the server images,
  whose clients (`psql`, `mc`) match their server's version: no image of their own to build,
  patch or keep in memory. NATS needs no bootstrap step: its users and permissions are its
  configuration file, and the app creates its JetStream streams in `migrate`;
- `migrate`: the app's one-shot (schema, catalogue, signing key, bucket check, streams);
- `app-1` … `app-N`: the API replicas, on `edge` and `backend`;
- `edge`: Caddy, the only service publishing ports.

Secrets reach containers only as files (`*_FILE`), never in the environment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from hearth.images import image_ref
from hearth.settings import Settings
from hearth.specs import (
    ConfigFile,
    HealthCheck,
    PublishedPort,
    SecretFile,
    ServiceSpec,
    VolumeMount,
    check_catalog,
)

DATA_SERVICES = ("postgres", "redis", "nats", "minio")
"""Services that keep the platform's state; each only on internal networks."""

EDGE_HTTP_PORT = 8080
EDGE_HTTPS_PORT = 8443
EDGE_HEALTH_PORT = 8081
"""The edge's ports inside its container: unprivileged, so it needs no capability."""
APP_PORT = 8000

APP_DB = "app"
"""The app's PostgreSQL role and database (the role owns that database and nothing else)."""
APP_NATS_USER = "app"
BUCKET = "hearth"
"""The app's S3 bucket. The edge routes `/<bucket>/…` to S3, so presigned URLs work there."""
APP_S3_ACCESS_KEY = "hearth-app"
MINIO_ROOT_USER = "hearth-root"
CONSOLE_PATH = "/minio/ui"
"""Where the edge serves the MinIO console, behind forward auth."""
CONSOLE_PERMISSION = "dashboards:view"

# Image uids (images/README.md); the edge's is ours (images/edge).
POSTGRES_USER, REDIS_USER, NATS_USER, MINIO_USER = "999:999", "998:998", "997:997", "996:996"
APP_USER, EDGE_USER = "10001:10001", "10002:10002"

DATA_HEALTH = {"interval_s": 3, "timeout_s": 3, "retries": 3, "start_period_s": 60}
"""Engine 20.10 has no start_interval: a short interval, and a start period long enough
for a recovery (WAL replay, AOF load, JetStream stream recovery)."""

ONE_SHOT_HEALTH = HealthCheck(test=("true",), interval_s=30, retries=1, start_period_s=0)
"""One-shots have no healthcheck: targets disable it; this value is never run."""


TMP = "/tmp"  # noqa: S108 - a private tmpfs in each container, not the host's /tmp


def secret_path(name: str) -> str:
    """Where a secret's file is mounted: /run/secrets/<snake_case name>."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in name)
    return f"/run/secrets/{snake}"


def secret(name: str) -> SecretFile:
    return SecretFile(name=name, target=secret_path(name))


def public_host(settings: Settings) -> str:
    """The name clients use: the domain, else the bind address (`localhost` on loopback)."""
    if settings.domain:
        return settings.domain
    return "localhost" if settings.bind_address.is_loopback else str(settings.bind_address)


def public_url(settings: Settings) -> str:
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    return f"https://{public_host(settings)}{port}"


def go_memory_limit(memory_mb: int, percent: int = 80) -> str:
    """GOMEMLIMIT, a share of the container's limit: Go's GC works harder before the OOM
    killer would, instead of letting the heap double between collections."""
    return f"{memory_mb * percent // 100}MiB"


def _bash(script: str) -> tuple[str, ...]:
    return ("bash", script)


# ---- data services -----------------------------------------------------------------------


def postgres() -> ServiceSpec:
    return ServiceSpec(
        name="postgres",
        image=image_ref("postgres"),
        user=POSTGRES_USER,
        networks=("backend",),
        env={"POSTGRES_PASSWORD_FILE": secret_path("postgresPassword")},
        secrets=(secret("postgresPassword"),),
        mounts=(VolumeMount(volume="postgres-data", target="/var/lib/postgresql/data"),),
        tmpfs={"/run/postgresql": "size=1m", TMP: "size=16m"},
        healthcheck=HealthCheck(test=("/usr/local/bin/healthcheck.sh",), **DATA_HEALTH),
        # Shared buffers (128 MB) and the connection processes live inside this limit;
        # every connection is a process, so the process limit sits above max_connections.
        memory_mb=512,
        processes=256,
        labels={"hearth.role": "data"},
    )


def redis() -> ServiceSpec:
    return ServiceSpec(
        name="redis",
        image=image_ref("redis"),
        user=REDIS_USER,
        networks=("backend",),
        env={"REDIS_PASSWORD_FILE": secret_path("redisPassword")},
        secrets=(secret("redisPassword"),),
        mounts=(VolumeMount(volume="redis-data", target="/data"),),
        healthcheck=HealthCheck(test=("/usr/local/bin/healthcheck.sh",), **DATA_HEALTH),
        memory_mb=256,
        processes=64,
        labels={"hearth.role": "data"},
    )


NATS_CONF = "/etc/nats/hearth.conf"
NATS_START = "/etc/hearth/nats-start.sh"

# What the app does on NATS (app/src/hearth_app/events): publishes domain events and dead
# letters, uses the JetStream API (streams, a durable queue consumer, acks, flow control),
# and answers and sends requests (`file.inspect`, replies on inboxes).
APP_NATS_PUBLISH = (
    "user.>",
    "project.>",
    "file.>",
    "dlq.>",
    "$JS.API.>",
    "$JS.ACK.>",
    "$JS.FC.>",
    "_INBOX.>",
)
APP_NATS_SUBSCRIBE = ("file.inspect", "_INBOX.>")


def nats_config() -> str:
    def allow(subjects: tuple[str, ...]) -> str:
        return json.dumps(list(subjects))

    return f"""# Rendered by hearth/services.py.
# Ports, monitoring and JetStream come from the image's base.conf.
include base.conf

authorization {{
  users: [
    {{
      # The password comes from a secret file, put in the environment by {NATS_START}.
      user: {APP_NATS_USER}
      password: $HEARTH_NATS_APP_PASSWORD
      permissions: {{
        publish: {{ allow: {allow(APP_NATS_PUBLISH)} }}
        subscribe: {{ allow: {allow(APP_NATS_SUBSCRIBE)} }}
      }}
    }}
  ]
}}
"""


NATS_START_SCRIPT = f"""#!/bin/bash
# Starts nats-server with the platform's users ({NATS_CONF}). NATS reads a variable
# missing from the file from its environment: each password goes there from its secret
# file, as a NATS string of \\xHH escapes (any byte is safe), and never into a file.
set -euo pipefail
quote() {{
  printf '"%s"' "$(printf '%s' "$(<"$1")" | od -An -v -tx1 | tr -d ' \\n' | sed 's/../\\\\x&/g')"
}}
HEARTH_NATS_APP_PASSWORD=$(quote {secret_path("natsPassword")})
export HEARTH_NATS_APP_PASSWORD
[ -w /data ] || {{ echo "nats: /data is not writable by uid $(id -u)" >&2; exit 1; }}
exec nats-server --config {NATS_CONF}
"""


def nats() -> ServiceSpec:
    memory = 256
    return ServiceSpec(
        name="nats",
        image=image_ref("nats"),
        user=NATS_USER,
        networks=("backend",),
        command=_bash(NATS_START),
        env={"GOMEMLIMIT": go_memory_limit(memory)},
        secrets=(secret("natsPassword"),),
        files=(
            ConfigFile(target=NATS_CONF, content=nats_config()),
            ConfigFile(target=NATS_START, content=NATS_START_SCRIPT, mode=0o555),
        ),
        mounts=(VolumeMount(volume="nats-data", target="/data"),),
        healthcheck=HealthCheck(test=("/usr/local/bin/healthcheck.sh",), **DATA_HEALTH),
        memory_mb=memory,
        processes=128,
        labels={"hearth.role": "data"},
    )


def minio(settings: Settings) -> ServiceSpec:
    # MinIO sizes its buffers from the memory it sees, and its heap grows to GOMEMLIMIT and
    # stays there once idle: 384 MB with a soft limit at half of it serves one box's
    # uploads (the GC works harder under load) and keeps the idle platform small.
    memory = 384
    return ServiceSpec(
        name="minio",
        image=image_ref("minio"),
        user=MINIO_USER,
        # `storage` lets the edge reach the S3 API and the console without joining `backend`.
        networks=("backend", "storage"),
        env={
            "MINIO_ROOT_USER": MINIO_ROOT_USER,
            "MINIO_ROOT_PASSWORD_FILE": secret_path("minioRootPassword"),
            # The console is served by the edge under this path (and its base URL follows).
            "MINIO_BROWSER_REDIRECT_URL": public_url(settings) + CONSOLE_PATH,
            "GOMEMLIMIT": go_memory_limit(memory, percent=50),
        },
        secrets=(secret("minioRootPassword"),),
        mounts=(VolumeMount(volume="minio-data", target="/data"),),
        tmpfs={TMP: "size=16m"},
        healthcheck=HealthCheck(test=("/usr/local/bin/healthcheck.sh",), **DATA_HEALTH),
        memory_mb=memory,
        processes=256,
        labels={"hearth.role": "data"},
    )


# ---- bootstrap one-shots -----------------------------------------------------------------

PG_BOOTSTRAP_SQL = "/etc/hearth/bootstrap-postgres.sql"
PG_BOOTSTRAP_SCRIPT = "/etc/hearth/bootstrap-postgres.sh"

PG_CONSUMERS: Mapping[str, str] = {APP_DB: "appDbPassword"}
"""Role (and database of the same name) → the secret holding its password."""


def postgres_bootstrap_sql() -> str:
    lines = [
        "-- Rendered by hearth/services.py; run by bootstrap-postgres on every deployment.",
        "-- Idempotent: creates what is missing and resets grants and passwords to the spec.",
        "\\set ON_ERROR_STOP on",
        "-- Only the superuser uses the maintenance database.",
        "REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;",
    ]
    for role, secret_name in PG_CONSUMERS.items():
        lines += [
            "",
            f"-- {role}: a login role owning its database and nothing else.",
            # Backquotes: psql reads the file itself, so the password is on no command line.
            f"\\set password `cat {secret_path(secret_name)}`",
            # Role names are constants of this module, never input: no injection here.
            f"SELECT 'CREATE ROLE {role}' WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT FROM pg_roles WHERE rolname = '{role}')\\gexec",
            f"ALTER ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
            "NOBYPASSRLS PASSWORD :'password';",
            "\\unset password",
            f"SELECT 'CREATE DATABASE {role} OWNER {role}' WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT FROM pg_database WHERE datname = '{role}')\\gexec",
            f"ALTER DATABASE {role} OWNER TO {role};",
            f"REVOKE ALL ON DATABASE {role} FROM PUBLIC;",
            f"\\connect {role}",
            f"ALTER SCHEMA public OWNER TO {role};",
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;",
            "\\connect postgres",
        ]
    return "\n".join(lines) + "\n"


PG_BOOTSTRAP = f"""#!/bin/bash
# Bootstrap of PostgreSQL: roles and databases ({PG_BOOTSTRAP_SQL}). The superuser's
# password goes from its secret file to psql's environment, never to a command line.
set -euo pipefail
PGPASSWORD=$(<{secret_path("postgresPassword")})
export PGPASSWORD PGHOST=postgres PGUSER=postgres PGDATABASE=postgres PGCONNECT_TIMEOUT=10
exec psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 -f {PG_BOOTSTRAP_SQL}
"""


def _bootstrap(service: str, user: str, script_path: str, **spec: object) -> ServiceSpec:
    """An idempotent one-shot that sets `service` up with its own image's client."""
    return ServiceSpec(
        name=f"bootstrap-{service}",
        image=image_ref(service),
        user=user,
        networks=("backend",),
        command=_bash(script_path),
        tmpfs={TMP: "size=4m"},
        depends_on=(service,),
        one_shot=True,
        restart="no",
        healthcheck=ONE_SHOT_HEALTH,
        labels={"hearth.role": "bootstrap"},
        **spec,  # type: ignore[arg-type]
    )


def bootstrap_postgres() -> ServiceSpec:
    return _bootstrap(
        "postgres",
        POSTGRES_USER,
        PG_BOOTSTRAP_SCRIPT,
        secrets=(secret("postgresPassword"), *(secret(s) for s in PG_CONSUMERS.values())),
        files=(
            ConfigFile(target=PG_BOOTSTRAP_SQL, content=postgres_bootstrap_sql()),
            ConfigFile(target=PG_BOOTSTRAP_SCRIPT, content=PG_BOOTSTRAP, mode=0o555),
        ),
        memory_mb=64,
        processes=32,
    )


S3_POLICY = "/etc/hearth/app-s3-policy.json"
S3_BOOTSTRAP_SCRIPT = "/etc/hearth/bootstrap-minio.sh"


def app_s3_policy() -> str:
    """The app's key may use objects in its bucket, and nothing else."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
                    "Resource": [f"arn:aws:s3:::{BUCKET}"],
                },
                {
                    "Effect": "Allow",
                    "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                    "Resource": [f"arn:aws:s3:::{BUCKET}/*"],
                },
            ],
        },
        indent=2,
    )


S3_BOOTSTRAP = f"""#!/bin/bash
# Bootstrap of MinIO through its admin API (mc): the app's bucket, a policy limited to it,
# and the app's access key with that policy. Idempotent: runs on every deployment.
set -euo pipefail
urlencode() {{
  local s=$1 out="" c i
  for ((i = 0; i < ${{#s}}; i++)); do
    c=${{s:i:1}}
    case "$c" in [A-Za-z0-9._~-]) out+=$c ;; *) out+=$(printf '%%%02X' "'$c") ;; esac
  done
  printf '%s' "$out"
}}
# Credentials reach mc through its environment (MC_HOST_<alias>), never a command line.
password=$(urlencode "$(<{secret_path("minioRootPassword")})")
MC_HOST_hearth="http://${{MINIO_ROOT_USER}}:${{password}}@minio:9000"
export MC_HOST_hearth
mc --quiet mb --ignore-existing hearth/{BUCKET}
mc --quiet admin policy create hearth {APP_S3_ACCESS_KEY} {S3_POLICY}
# `user add` on an existing user sets its secret again: the secret file is the truth.
# (mc takes it only as an argument: visible to this container's own processes alone.)
mc --quiet admin user add hearth {APP_S3_ACCESS_KEY} "$(<{secret_path("appS3SecretKey")})"
if ! mc --json admin user info hearth {APP_S3_ACCESS_KEY} \\
    | grep -Eq '"policyName": *"([^"]*,)?{APP_S3_ACCESS_KEY}(,|")'; then
  mc --quiet admin policy attach hearth {APP_S3_ACCESS_KEY} --user {APP_S3_ACCESS_KEY}
fi
echo "bootstrap-minio: bucket {BUCKET} and key {APP_S3_ACCESS_KEY} ready"
"""


def bootstrap_minio() -> ServiceSpec:
    return _bootstrap(
        "minio",
        MINIO_USER,
        S3_BOOTSTRAP_SCRIPT,
        env={"MINIO_ROOT_USER": MINIO_ROOT_USER, "MC_CONFIG_DIR": f"{TMP}/.mc"},
        secrets=(secret("minioRootPassword"), secret("appS3SecretKey")),
        files=(
            ConfigFile(target=S3_POLICY, content=app_s3_policy()),
            ConfigFile(target=S3_BOOTSTRAP_SCRIPT, content=S3_BOOTSTRAP, mode=0o555),
        ),
        # mc is a large Go binary; its admin commands peak near 150 MB.
        memory_mb=256,
        processes=64,
    )


# ---- the app -----------------------------------------------------------------------------

APP_SECRETS = ("appDbPassword", "redisPassword", "natsPassword", "appS3SecretKey",
               "authKeyEncryptionSecret")  # fmt: skip


def app_env(settings: Settings) -> dict[str, str]:
    """The app's environment (app/src/hearth_app/core/settings.py); secrets as *_FILE."""
    return {
        "HEARTH_ENV": "production",
        "HEARTH_DB_HOST": "postgres",
        "HEARTH_DB_NAME": APP_DB,
        "HEARTH_DB_USER": APP_DB,
        "HEARTH_DB_PASSWORD_FILE": secret_path("appDbPassword"),
        "HEARTH_REDIS_HOST": "redis",
        "HEARTH_REDIS_PASSWORD_FILE": secret_path("redisPassword"),
        "HEARTH_NATS_URL": "nats://nats:4222",
        "HEARTH_NATS_USER": APP_NATS_USER,
        "HEARTH_NATS_PASSWORD_FILE": secret_path("natsPassword"),
        "HEARTH_S3_ENDPOINT": "http://minio:9000",
        # Presigned URLs name the edge, which routes /<bucket>/… to S3 unchanged.
        "HEARTH_S3_PUBLIC_ENDPOINT": public_url(settings),
        "HEARTH_S3_BUCKET": BUCKET,
        "HEARTH_S3_ACCESS_KEY": APP_S3_ACCESS_KEY,
        "HEARTH_S3_SECRET_KEY_FILE": secret_path("appS3SecretKey"),
        "HEARTH_AUTH_ISSUER": public_url(settings),
        "HEARTH_AUTH_REGISTRATION_ENABLED": str(settings.registration_open).lower(),
        "HEARTH_AUTH_KEY_ENCRYPTION_SECRET_FILE": secret_path("authKeyEncryptionSecret"),
        "HEARTH_PORT": str(APP_PORT),
    }


APP_HEALTH = HealthCheck(
    test=(
        "python3",
        "-c",
        "import urllib.request; "
        f"urllib.request.urlopen('http://127.0.0.1:{APP_PORT}/healthz', timeout=2)",
    ),
    interval_s=5,
    timeout_s=3,
    retries=3,
    start_period_s=30,
)


def migrate(settings: Settings) -> ServiceSpec:
    return ServiceSpec(
        name="migrate",
        image=image_ref("app"),
        user=APP_USER,
        networks=("backend",),
        command=("migrate",),
        env=app_env(settings),
        secrets=tuple(secret(s) for s in APP_SECRETS),
        tmpfs={TMP: "size=16m"},
        depends_on=("bootstrap-postgres", "bootstrap-minio", "redis", "nats"),
        one_shot=True,
        restart="no",
        healthcheck=ONE_SHOT_HEALTH,
        memory_mb=256,
        processes=64,
        labels={"hearth.role": "bootstrap"},
    )


def app_replica_names(settings: Settings) -> tuple[str, ...]:
    return tuple(f"app-{i}" for i in range(1, settings.app_replicas + 1))


def app(settings: Settings, name: str) -> ServiceSpec:
    return ServiceSpec(
        name=name,
        image=image_ref("app"),
        user=APP_USER,
        networks=("edge", "backend"),
        command=("serve",),
        env=app_env(settings),
        secrets=tuple(secret(s) for s in APP_SECRETS),
        tmpfs={TMP: "size=16m"},
        depends_on=("migrate",),
        healthcheck=APP_HEALTH,
        # argon2id takes 19 MiB per hash in flight; the rest is the interpreter and pools.
        memory_mb=384,
        processes=128,
        labels={"hearth.role": "app"},
    )


# ---- the edge ----------------------------------------------------------------------------


def caddyfile(settings: Settings) -> str:
    """The edge's configuration: TLS, the app's replicas, S3 and the console."""
    host = public_host(settings)
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    apps = " ".join(f"{n}:{APP_PORT}" for n in app_replica_names(settings))
    if settings.domain:
        sites = settings.domain
        tls = [f"\temail {settings.acme_email}"] if settings.acme_email else []
    else:
        names = ["localhost", "127.0.0.1"]
        if not settings.bind_address.is_loopback:
            names.append(str(settings.bind_address))
        sites = ", ".join(names)
        # Certificates from Caddy's own CA (kept in /data); nothing installs it on the host.
        tls = ["\tlocal_certs"]
    # Active checks take a replica out within one interval; passive ones at once, and a
    # request is retried on another replica for up to lb_try_duration. /healthz, not
    # /readyz: a shared dependency failing makes every replica unready alike, and taking
    # them all out would turn a partial outage into a full one.
    balance = "\n".join(
        f"\t\t\t{line}"
        for line in (
            "lb_policy round_robin",
            "lb_try_duration 10s",
            "lb_try_interval 250ms",
            "fail_duration 10s",
            "health_uri /healthz",
            "health_interval 3s",
            "health_timeout 2s",
            "health_status 200",
        )
    )
    return "\n".join(
        [
            "# Rendered by hearth/services.py from the stack's settings: edit that, not this.",
            "{",
            "\tadmin off",
            f"\thttp_port {EDGE_HTTP_PORT}",
            f"\thttps_port {EDGE_HTTPS_PORT}",
            # Caddy would redirect to its own (container) port; the site below names ours.
            "\tauto_https disable_redirects",
            "\tskip_install_trust",
            # Clients connecting to an address send no SNI: they get this name's certificate.
            f"\tdefault_sni {host}",
            *tls,
            "}",
            "",
            "# Healthcheck (images/edge/healthcheck.sh): loopback only, never published.",
            f"http://:{EDGE_HEALTH_PORT} {{",
            "\tbind 127.0.0.1",
            '\trespond /healthz "ok" 200',
            "}",
            "",
            "http:// {",
            f"\tredir https://{{host}}{port}{{uri}} 308",
            "}",
            "",
            f"{sites} {{",
            "\t# S3, path-style: presigned URLs name this host and are passed on unchanged",
            "\t# (same Host, same path), so their signatures hold.",
            f"\t@s3 path /{BUCKET} /{BUCKET}/*",
            "\thandle @s3 {",
            "\t\treverse_proxy minio:9000",
            "\t}",
            "",
            "\t# The MinIO console, only for users the app allows (forward auth).",
            f"\tredir {CONSOLE_PATH} {CONSOLE_PATH}/ 308",
            f"\thandle_path {CONSOLE_PATH}/* {{",
            f"\t\tforward_auth {apps} {{",
            f"\t\t\turi /api/v1/auth/forward?permission={CONSOLE_PERMISSION}",
            "\t\t\tcopy_headers X-Auth-User-Id X-Auth-User-Email",
            balance,
            "\t\t}",
            "\t\treverse_proxy minio:9001",
            "\t}",
            "",
            "\thandle {",
            f"\t\treverse_proxy {apps} {{",
            balance,
            "\t\t}",
            "\t}",
            "}",
            "",
        ]
    )


def edge(settings: Settings) -> ServiceSpec:
    memory = 128
    bind = str(settings.bind_address)
    return ServiceSpec(
        name="edge",
        image=image_ref("edge"),
        user=EDGE_USER,
        networks=("edge", "storage"),
        ports=(
            PublishedPort(
                container_port=EDGE_HTTP_PORT, host_port=settings.http_port, host_ip=bind
            ),
            PublishedPort(
                container_port=EDGE_HTTPS_PORT, host_port=settings.https_port, host_ip=bind
            ),
        ),
        env={"GOMEMLIMIT": go_memory_limit(memory)},
        files=(ConfigFile(target="/etc/caddy/Caddyfile", content=caddyfile(settings)),),
        mounts=(VolumeMount(volume="edge-data", target="/data"),),
        tmpfs={TMP: "size=8m"},
        depends_on=(*app_replica_names(settings), "minio"),
        healthcheck=HealthCheck(
            test=("/usr/local/bin/healthcheck.sh",),
            interval_s=3,
            timeout_s=3,
            retries=3,
            start_period_s=30,
        ),
        memory_mb=memory,
        processes=128,
        labels={"hearth.role": "edge"},
    )


def services(settings: Settings) -> tuple[ServiceSpec, ...]:
    """The whole platform for these settings, checked as a whole (hearth.specs.check_catalog)."""
    specs = (
        postgres(),
        redis(),
        nats(),
        minio(settings),
        bootstrap_postgres(),
        bootstrap_minio(),
        migrate(settings),
        *(app(settings, name) for name in app_replica_names(settings)),
        edge(settings),
    )
    check_catalog(specs)
    return specs
