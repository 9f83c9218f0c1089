"""The services a stack runs, as specs built from its settings."""

from __future__ import annotations

from hearth.images import image_ref
from hearth.settings import Settings
from hearth.specs import HealthCheck, PublishedPort, ServiceSpec, VolumeMount

HELLO_PORT = 8080


def hello(settings: Settings) -> ServiceSpec:
    """Placeholder edge: proves the toolchain end to end until the real edge lands."""
    return ServiceSpec(
        name="hello",
        image=image_ref("hello"),
        user="10001:10001",
        networks=("edge",),
        ports=(
            PublishedPort(
                container_port=HELLO_PORT,
                host_port=settings.http_port,
                host_ip=str(settings.bind_address),
            ),
        ),
        mounts=(VolumeMount(volume="hello-data", target="/data"),),
        healthcheck=HealthCheck(
            test=(
                "busybox",
                "wget",
                "-q",
                "-O",
                "/dev/null",
                f"http://127.0.0.1:{HELLO_PORT}/healthz",
            )
        ),
        memory_mb=32,
        processes=64,
    )


def services(settings: Settings) -> tuple[ServiceSpec, ...]:
    return (hello(settings),)
