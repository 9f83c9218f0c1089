"""Every NATS subject the app publishes to, subscribes to or sends requests on, in one place.

Code elsewhere names subjects only through this module, and :func:`app_permissions` derives
from it the exact publish and subscribe permissions the app's NATS user needs. The
integration tests run NATS with nothing more than those permissions, so a subject used
without being listed here fails the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

# Domain events, stored in the event stream (``HEARTH_NATS_STREAM``).
STREAM_SUBJECTS = ("user.>", "project.>", "file.>")

USER_REGISTERED = "user.registered"
USER_DISABLED = "user.disabled"
USER_ENABLED = "user.enabled"
PROJECT_CREATED = "project.created"
PROJECT_UPDATED = "project.updated"
PROJECT_DELETED = "project.deleted"
PROJECT_MEMBER_SET = "project.member_set"
PROJECT_MEMBER_REMOVED = "project.member_removed"
FILE_UPLOADED = "file.uploaded"
FILE_READY = "file.ready"
FILE_REJECTED = "file.rejected"
FILE_DELETED = "file.deleted"

EVENTS = (
    USER_REGISTERED,
    USER_DISABLED,
    USER_ENABLED,
    PROJECT_CREATED,
    PROJECT_UPDATED,
    PROJECT_DELETED,
    PROJECT_MEMBER_SET,
    PROJECT_MEMBER_REMOVED,
    FILE_UPLOADED,
    FILE_READY,
    FILE_REJECTED,
    FILE_DELETED,
)

# Dead letters go to ``dlq.<original subject>``, stored in ``HEARTH_NATS_DLQ_STREAM``.
DLQ_PREFIX = "dlq."
DLQ_STREAM_SUBJECT = DLQ_PREFIX + ">"

# The file worker: a durable queue-group push consumer of ``file.uploaded``.
WORKER_QUEUE = "file-workers"
WORKER_DURABLE = "file-workers"
WORKER_FILTER = FILE_UPLOADED

# Request/reply, core NATS. Deliberately outside every stream's subjects: a request on
# ``file.inspect`` would be stored in the event stream (``file.>``) and JetStream's publish
# acknowledgement would race the worker's answer to the requester's inbox.
INSPECT = "rpc.file.inspect"

# Replies (request/reply, the JetStream API, publish acknowledgements) arrive on inboxes.
INBOX_PREFIX = "_INBOX."
JS_API = "$JS.API"
JS_ACK = "$JS.ACK"


def dead_letter(subject: str) -> str:
    return DLQ_PREFIX + subject


def max_deliveries_advisory(stream: str) -> str:
    """The server's note when a consumer of ``stream`` gives up; captured by the DLQ stream.

    The server publishes it itself: the app's user needs no permission for it.
    """
    return f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{stream}.>"


def deliver_subject(stream: str, durable: str) -> str:
    """Where the server pushes a durable consumer's messages.

    Fixed, not a random inbox, so replicas starting together send identical consumer
    configurations (see :func:`hearth_app.events.bus.EventBus.ensure_consumer`).
    """
    return f"{INBOX_PREFIX}hearth.{stream}.{durable}"


def stream_api(action: str, stream: str) -> str:
    return f"{JS_API}.STREAM.{action}.{stream}"


def consumer_info_api(stream: str, consumer: str) -> str:
    return f"{JS_API}.CONSUMER.INFO.{stream}.{consumer}"


def consumer_create_api(stream: str, consumer: str, filter_subject: str) -> str:
    # nats-server >= 2.9: the name and the filter in the subject (permissions can name them).
    return f"{JS_API}.CONSUMER.CREATE.{stream}.{consumer}.{filter_subject}"


def ack_subjects(stream: str, consumer: str) -> str:
    """Acks, naks (with delay) and terms of the consumer's messages (``$JS.ACK.<stream>.<consumer>...``)."""
    return f"{JS_ACK}.{stream}.{consumer}.>"


@dataclass(frozen=True)
class NatsPermissions:
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]


def app_permissions(stream: str = "HEARTH", dlq_stream: str = "HEARTH_DLQ") -> NatsPermissions:
    """The exact NATS permissions the app needs (serve, worker and migrate together)."""
    streams = (stream, dlq_stream)
    return NatsPermissions(
        publish=(
            *EVENTS,
            dead_letter(WORKER_FILTER),
            INSPECT,  # the API's requests
            *(stream_api(action, s) for s in streams for action in ("INFO", "CREATE", "UPDATE")),
            consumer_info_api(stream, WORKER_DURABLE),
            consumer_create_api(stream, WORKER_DURABLE, WORKER_FILTER),
            ack_subjects(stream, WORKER_DURABLE),
            INBOX_PREFIX + ">",  # the worker's answers to inspect requests
        ),
        subscribe=(
            INSPECT,  # the worker, in queue group file-workers
            # Replies to the app's requests (inspect, JetStream API, publish acks), and the
            # worker consumer's deliver subject (deliver_subject(), or the random inbox of
            # a consumer made by an earlier version).
            INBOX_PREFIX + ">",
        ),
    )
