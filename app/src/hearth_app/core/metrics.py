"""Prometheus metrics. Metric objects are process-wide, as the client library expects."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("hearth_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "hearth_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ERRORS = Counter("hearth_http_errors_total", "HTTP responses with status >= 500", ["route"])
AUTH_EVENTS = Counter("hearth_auth_events_total", "Authentication events", ["event", "outcome"])
CACHE = Counter("hearth_cache_requests_total", "Cache lookups", ["cache", "result"])
RATE_LIMITED = Counter("hearth_rate_limited_total", "Requests refused by the rate limiter", ["scope"])
QUEUE_DEPTH = Gauge("hearth_queue_depth", "Messages waiting for a JetStream consumer", ["consumer"])
EVENTS_PUBLISHED = Counter("hearth_events_published_total", "Domain events published", ["subject"])
EVENTS_DUPLICATE = Counter(
    "hearth_events_duplicate_total",
    "Events published again that JetStream dropped as duplicates (same Nats-Msg-Id)",
    ["subject"],
)
OUTBOX_PENDING = Gauge("hearth_outbox_pending", "Committed events not yet published (outbox rows)")
OUTBOX_OLDEST_PENDING_AGE = Gauge(
    "hearth_outbox_oldest_pending_age_seconds", "Age of the oldest committed event not yet published"
)
WORKER_MESSAGES = Counter("hearth_worker_messages_total", "Worker outcomes", ["outcome"])
