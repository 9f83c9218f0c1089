"""The catalog: the services a stack runs, as specs (hearth.catalog.spec) built from its
settings. Pure data: no Pulumi, no Docker, no I/O but reading its own templates.

One module per service, its config files as templates in templates/<service>/:

- data, each on `backend` only (`s3` also on `storage`, where only the edge reaches it):
  `postgres`, `redis` (Valkey), `nats` (JetStream), `s3` (the Versity S3 Gateway);
- bootstrap one-shots, idempotent, run on every deployment and reusing the server images
  (whose clients match their server's version): `bootstrap-postgres` (postgres.py: a role
  and a database per consumer) and `bootstrap-s3` (s3.py: the app's bucket and the app's
  own key, limited to it). NATS needs none: its users are its configuration file;
- `migrate` (app.py): the app's one-shot (schema, streams, the first admin);
- `app-1` … `app-N` (app.py): the API replicas, on `edge` and `backend`;
- `edge` (edge.py): Caddy, the only service publishing ports;
- `backup-postgres`, `backup-s3`, `backup-nats` (backup.py): an agent per data store,
  backing it up on a schedule into its repository store `<store>-backup`;
- monitoring (monitoring.py): exporters, `alertmanager`, `logs` (VictoriaLogs), `metrics`
  (VictoriaMetrics) and `vmalert`, scraping every spec with a metrics endpoint.

common.py holds what several share (secret paths, the public URL, health presets, the
bootstrap one-shot shape, template rendering). Secrets reach containers only as files
(`*_FILE`), never in the environment. docs/adding-a-service.md walks through adding one.
"""

from __future__ import annotations

from hearth.catalog import app, backup, edge, monitoring, nats, postgres, redis, s3
from hearth.catalog.common import TMP, on_swarm, public_url, secret_path
from hearth.catalog.spec import ServiceSpec, check_catalog
from hearth.settings import Settings

__all__ = [
    "APP_NATS_PUBLISH",
    "APP_NATS_SUBSCRIBE",
    "BUCKET",
    "DATA_SERVICES",
    "TMP",
    "caddyfile",
    "postgres_bootstrap_sql",
    "public_url",
    "secret_path",
    "services",
]

DATA_SERVICES = (postgres.NAME, redis.NAME, nats.NAME, s3.NAME)
"""Services that keep the platform's state; each only on internal networks."""

# Names other code imports from here (tests, the compose e2e); each said in its module.
APP_NATS_PUBLISH = nats.APP_NATS_PUBLISH
APP_NATS_SUBSCRIBE = nats.APP_NATS_SUBSCRIBE
BUCKET = s3.BUCKET
caddyfile = edge.caddyfile
postgres_bootstrap_sql = postgres.bootstrap_sql


def services(settings: Settings) -> tuple[ServiceSpec, ...]:
    """The whole platform for these settings in start order, checked as a whole
    (hearth.catalog.spec.check_catalog). Adding a service is adding a line."""
    platform = (
        postgres.server(settings),
        redis.server(settings),
        *nats.servers(settings),
        s3.server(settings),
        postgres.bootstrap(settings),
        s3.bootstrap(settings),
        app.migrate(settings),
        *app.replicas(settings),
        edge.server(settings),
        *backup.agents(settings),
    )
    # Monitoring last: it scrapes what comes before it (hearth/catalog/monitoring.py).
    # Not yet on a swarm: its logs come in on each host's loopback (docs/swarm.md).
    specs = platform if on_swarm(settings) else (*platform, *monitoring.servers(settings, platform))
    check_catalog(specs)
    return specs
