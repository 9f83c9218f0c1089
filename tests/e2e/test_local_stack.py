"""A real `pulumi up` of the `local` stack, what runs checked with testinfra and
HTTP, a second run that must change nothing, and `pulumi destroy`.

Runs with `make e2e`. It needs the Pulumi docker resource plugin; see
docs/development.md for where that comes from.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
import testinfra
from pulumi import automation as auto

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


def test_container_is_healthy_non_root_and_read_only(stack: auto.Stack) -> None:
    name = stack.outputs()["containers"].value["hello"]
    host = testinfra.get_host(f"docker://{name}")
    assert host.check_output("id -u") == "10001"
    assert host.run("touch /probe").rc != 0, "root filesystem must be read-only"
    import docker

    state = docker.from_env().containers.get(name).attrs["State"]
    assert state["Health"]["Status"] == "healthy"


def test_endpoint_answers(stack: auto.Stack) -> None:
    endpoint = stack.outputs()["endpoint"].value
    with urllib.request.urlopen(endpoint + "healthz", timeout=10) as resp:  # noqa: S310
        assert resp.status == 200


def test_second_run_changes_nothing(stack: auto.Stack) -> None:
    stack.preview(expect_no_changes=True, on_output=print)
