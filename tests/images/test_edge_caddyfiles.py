"""The Caddyfiles the catalog renders for other stacks than `local` (a LAN address with the
internal CA, a public domain with ACME) are accepted by the Caddy in the edge image: the
e2e deployment runs only the local variant."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from hearth.catalog import TMP, caddyfile
from hearth.catalog.edge import USER
from hearth.settings import parse_settings

LAN = {"hearth:platform": "linux", "hearth:bindAddress": "192.168.1.20"}


@pytest.mark.parametrize(
    "config",
    [
        {**LAN, "hearth:appReplicas": "3"},
        {
            **LAN,
            "hearth:domain": "hearth.example.org",
            "hearth:acmeEmail": "ops@example.org",
            "hearth:httpsPort": "443",
        },
    ],
    ids=["lan-internal-ca", "domain-acme"],
)
def test_caddyfiles_of_other_stacks_are_valid_for_caddy(
    tmp_path: Path, config: dict[str, str]
) -> None:
    (tmp_path / "Caddyfile").write_text(caddyfile(parse_settings(config)))
    (tmp_path / "Caddyfile").chmod(0o444)
    uid, gid = USER.split(":")
    hardened = "--network none --read-only --cap-drop ALL --security-opt no-new-privileges"
    validate = "validate --config /etc/caddy/Caddyfile --adapter caddyfile"
    proc = subprocess.run(  # noqa: S603
        [  # noqa: S607
            "docker",
            "run",
            "--rm",
            *hardened.split(),
            f"--tmpfs={TMP}",
            f"--tmpfs=/data:uid={uid},gid={gid}",
            f"--volume={tmp_path}/Caddyfile:/etc/caddy/Caddyfile:ro",
            "hearth/edge:local",
            *validate.split(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Valid configuration" in proc.stdout + proc.stderr
