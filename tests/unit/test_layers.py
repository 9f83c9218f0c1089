"""The import contract: data flows one way through the package, and the layers show it.

settings → catalog → render (Compose, swarm) → resources → targets → program → driver

A module may import from its own layer and the layers before it, never after; the
catalog and the renderer stay pure data (no Pulumi, no Docker, no subprocesses).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "hearth"
LAYERS = (
    ("hearth.settings", "hearth.secrets"),
    ("hearth.catalog",),
    ("hearth.render", "hearth.swarm"),
    ("hearth.resources",),
    ("hearth.targets",),
    ("hearth.program",),
    ("hearth.workspace", "hearth.backups", "hearth.node_images", "hearth.cli"),
)
PURE = ("hearth.settings", "hearth.secrets", "hearth.catalog", "hearth.render", "hearth.swarm")
IMPURE_IMPORTS = ("pulumi", "docker", "subprocess", "hearth.resources", "hearth.targets")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    for i, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in {__file__}")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # `from hearth import render` imports the module hearth.render.
            if node.module == "hearth":
                found |= {f"hearth.{a.name}" for a in node.names}
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_flow_one_way(path: Path) -> None:
    me = module_name(path)
    later = sorted(m for m in imports(path) if m.startswith("hearth.") and layer(m) > layer(me))
    assert not later, f"{me} (layer {layer(me)}) imports later layers: {later}"


@pytest.mark.parametrize(
    "path",
    [p for p in MODULES if module_name(p).startswith(PURE)],
    ids=lambda p: module_name(p),
)
def test_settings_catalog_and_renderer_stay_pure_data(path: Path) -> None:
    bad = sorted(
        m for m in imports(path) if any(m == i or m.startswith(i + ".") for i in IMPURE_IMPORTS)
    )
    assert not bad, f"{module_name(path)} imports {bad}"
