"""NATS subjects live in hearth_app.events.subjects, and they fit the streams and permissions."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hearth_app
from hearth_app.events import subjects

SRC = Path(hearth_app.__file__).parent


def matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` one or more at the end."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def allowed(patterns: tuple[str, ...], subject: str) -> bool:
    return any(matches(p, subject) for p in patterns)


def test_matcher() -> None:
    assert matches("file.>", "file.uploaded")
    assert not matches("file.>", "file")
    assert matches("$JS.ACK.HEARTH.file-workers.>", "$JS.ACK.HEARTH.file-workers.1.2.3.4.5.6")
    assert matches("_INBOX.*", "_INBOX.abc")
    assert not matches("file.inspect", "rpc.file.inspect")


def test_events_are_stored_and_may_be_published() -> None:
    perms = subjects.app_permissions()
    for event in subjects.EVENTS:
        assert allowed(subjects.STREAM_SUBJECTS, event), event
        assert allowed(perms.publish, event), event


def test_inspect_requests_stay_out_of_every_stream() -> None:
    """A request captured by a stream would be stored, and JetStream's ack would race the reply."""
    dlq = (subjects.DLQ_STREAM_SUBJECT, subjects.max_deliveries_advisory("HEARTH"))
    assert not allowed(subjects.STREAM_SUBJECTS + dlq, subjects.INSPECT)
    perms = subjects.app_permissions()
    assert allowed(perms.publish, subjects.INSPECT)
    assert allowed(perms.subscribe, subjects.INSPECT)
    assert not allowed(perms.subscribe, "file.inspect")


def test_dead_letters_and_deliveries_go_where_they_should() -> None:
    dead = subjects.dead_letter(subjects.FILE_UPLOADED)
    assert matches(subjects.DLQ_STREAM_SUBJECT, dead)
    assert not allowed(subjects.STREAM_SUBJECTS, dead)
    deliver = subjects.deliver_subject("HEARTH", subjects.WORKER_DURABLE)
    assert not allowed((*subjects.STREAM_SUBJECTS, subjects.DLQ_STREAM_SUBJECT), deliver)
    assert allowed(subjects.app_permissions().subscribe, deliver)


def test_permissions_name_the_configured_streams() -> None:
    perms = subjects.app_permissions("EV", "EV_DLQ")
    assert "$JS.API.STREAM.UPDATE.EV_DLQ" in perms.publish
    assert "$JS.API.CONSUMER.CREATE.EV.file-workers.file.uploaded" in perms.publish
    assert "$JS.ACK.EV.file-workers.>" in perms.publish
    assert ">" not in perms.publish + perms.subscribe


def _literal_subject_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"publish", "request", "subscribe"}
            and node.args
            and isinstance(node.args[0], ast.Constant | ast.JoinedStr)
        ):
            found.append(f"{path.relative_to(SRC)}:{node.lineno}")
    return found


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_code_names_subjects_only_through_the_subjects_module(path: Path) -> None:
    assert _literal_subject_calls(path) == []
