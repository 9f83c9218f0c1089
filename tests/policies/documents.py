"""Compose documents for the policy tests: one that keeps the whole baseline."""

from __future__ import annotations

import copy
from typing import Any

LOGS = {"driver": "local", "options": {"max-size": "10m", "max-file": "3"}}


def hardened(**fields: Any) -> dict[str, Any]:
    """A service that keeps the whole baseline, as the renderer writes one."""
    return {
        "image": "hearth/x:local",
        "user": "998:998",
        "init": True,
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "mem_limit": "256m",
        "memswap_limit": "256m",
        "pids_limit": 256,
        "healthcheck": {"test": ["CMD", "true"], "interval": "3s"},
        "restart": "unless-stopped",
        "logging": copy.deepcopy(LOGS),
        "networks": {"backend": {"aliases": ["x"]}},
        **fields,
    }


def compliant() -> dict[str, Any]:
    """ComposeProject inputs: a data service, a one-shot, an app and the edge."""
    one_shot = hardened(restart="no", healthcheck={"disable": True})
    return {
        "project": "hearth-t",
        "services": {
            "redis": hardened(
                labels={"hearth.role": "data"},
                environment={"REDIS_PASSWORD_FILE": "/run/secrets/redis_password"},
                volumes=[{"type": "volume", "source": "redis-data", "target": "/data"}],
            ),
            "migrate": one_shot,
            "app-1": hardened(
                networks={"edge": {}, "backend": {}},
                environment={"HEARTH_S3_ACCESS_KEY": "hearth-app", "HEARTH_ENV": "production"},
                depends_on={"migrate": {"condition": "service_completed_successfully"}},
            ),
            "edge": hardened(
                labels={"hearth.role": "edge"},
                networks={"edge": {}},
                ports=[{"target": 8443, "published": "8443", "host_ip": "127.0.0.1"}],
                volumes=[{"type": "volume", "source": "edge-data", "target": "/data"}],
            ),
        },
        "networks": {
            "backend": {"name": "hearth-t-backend", "internal": True},
            "edge": {"name": "hearth-t-edge", "internal": False},
        },
    }
