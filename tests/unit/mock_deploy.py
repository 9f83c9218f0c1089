"""Run the Hearth program against Pulumi mocks and record every resource it declares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi


@dataclass
class Declared:
    type: str
    name: str
    inputs: dict[str, Any]
    parent: str | None

    @property
    def urn_hint(self) -> str:
        return f"{self.type}::{self.name}"


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Declared] = field(default_factory=list)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Declared(args.typ, args.name, dict(args.inputs), None))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.type == typ]


def deploy(config: dict[str, str], stack: str = "local") -> Recorder:
    """Run hearth.program.main with `config` ({"hearth:key": "value"}) under mocks."""
    from hearth.program import main

    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="hearth", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config)

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> None:
        main()

    run()
    return recorder
