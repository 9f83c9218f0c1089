"""A real `pulumi up` of the `local` stack, what runs checked with testinfra and
HTTP, a second run that must change nothing, and `pulumi destroy` that keeps data.

Runs with `make e2e`. It needs the Pulumi docker resource plugin; see
docs/development.md for where that comes from.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterator

import docker
import pytest
import testinfra
from pulumi import automation as auto

from hearth.services import services
from hearth.settings import parse_settings
from hearth.workspace import select_stack

pytestmark = pytest.mark.e2e
STACK = "e2e-local"


@pytest.fixture(scope="module")
def stack() -> Iterator[auto.Stack]:
    st = select_stack(STACK, config_from="local")
    st.up(on_output=print)
    yield st
    st.destroy(on_output=print)
    st.workspace.remove_stack(STACK)


def long_running(stack: auto.Stack) -> dict[str, str]:
    specs = {s.name: s for s in services(parse_settings({}))}
    names: dict[str, str] = stack.outputs()["containers"].value
    return {svc: c for svc, c in names.items() if not specs[svc].one_shot}


def test_every_service_is_healthy_non_root_and_read_only(stack: auto.Stack) -> None:
    client = docker.from_env()
    for service, name in long_running(stack).items():
        state = client.containers.get(name).attrs["State"]
        assert state["Health"]["Status"] == "healthy", service
        host = testinfra.get_host(f"docker://{name}")
        assert host.check_output("id -u") != "0", service
        assert host.run("touch /probe").rc != 0, f"{service}: root filesystem must be read-only"


def test_endpoint_answers_over_https(stack: auto.Stack) -> None:
    # The local edge's certificate comes from Caddy's internal CA.
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    url = stack.outputs()["endpoint"].value + "healthz"
    with urllib.request.urlopen(url, timeout=10, context=insecure) as resp:  # noqa: S310
        assert resp.status == 200


def test_second_run_changes_nothing(stack: auto.Stack) -> None:
    stack.preview(expect_no_changes=True, on_output=print)
