"""A TrueNAS double per test, and providers configured to talk to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from hearth.resources.truenas import connection
from hearth.resources.truenas.base import TrueNASProvider
from tests.truenas.double_files import Files, install
from tests.truenas_double import DEFAULT_API_KEY, DoubleConfig, TrueNASDouble

P = TypeVar("P", bound=TrueNASProvider)


class Running:
    def __init__(self, double: TrueNASDouble, files: Files) -> None:
        self.double = double
        self.files = files
        self.state = double.state

    @property
    def url(self) -> str:
        return self.double.url

    def logins(self) -> int:
        return sum(1 for c in self.state.calls if c["method"].startswith("auth.login"))

    def methods(self) -> list[str]:
        return [c["method"] for c in self.state.calls if not c["internal"]]


def start(config: DoubleConfig | None = None) -> Running:
    double = TrueNASDouble(config or DoubleConfig(rate_limit_sleep=(0.0, 0.0), job_delay=0.0))
    files = install(double)
    double.start()
    return Running(double, files)


@pytest.fixture
def nas() -> Iterator[Running]:
    running = start()
    try:
        yield running
    finally:
        connection.close_all()
        running.double.stop()


def configure(provider: P, url: str, api_key: str = DEFAULT_API_KEY) -> P:
    provider.configure(
        ConfigureRequest(
            Config({connection.URL_KEY: url, connection.API_KEY_KEY: api_key}, "hearth")
        )
    )
    return provider


@pytest.fixture
def make(nas: Running) -> Callable[[type[P]], P]:
    def build(cls: type[P]) -> P:
        return configure(cls(), nas.url)

    return build
