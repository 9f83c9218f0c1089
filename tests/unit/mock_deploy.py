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
    retain_on_delete: bool

    @property
    def urn_hint(self) -> str:
        return f"{self.type}::{self.name}"


@dataclass
class Recorder(pulumi.runtime.Mocks):
    resources: list[Declared] = field(default_factory=list)
    retained: set[str] = field(default_factory=set)

    def note_options(
        self, args: pulumi.ResourceTransformationArgs
    ) -> pulumi.ResourceTransformationResult | None:
        """A stack transformation: mocks do not see resource options, this does."""
        if args.opts.retain_on_delete:
            self.retained.add(args.name)
        return None

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        retain = args.name in self.retained
        self.resources.append(Declared(args.typ, args.name, dict(args.inputs), retain))
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None

    def of_type(self, typ: str) -> list[Declared]:
        return [r for r in self.resources if r.type == typ]


def fake_image_id(tag: str) -> str:
    return "sha256:" + tag.replace("/", "-").replace(":", "-")


def fake_secret(key: str) -> str:
    """A recognisable value per generated secret, to prove none leaks into a resource."""
    return f"fake-secret-{key}-0123456789"


def deploy(config: dict[str, str], stack: str = "local") -> Recorder:
    """Run hearth.program.main with `config` ({"hearth:key": "value"}) under mocks.

    The generated secrets are set as `make up` would have set them.
    """
    from hearth.program import main
    from hearth.resources import docker_cli
    from hearth.secrets import GENERATED

    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="hearth", stack=stack, preview=False)
    secrets = {f"hearth:{key}": fake_secret(key) for key in GENERATED}
    pulumi.runtime.set_all_config({**secrets, **config}, secret_keys=list(secrets))

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def run() -> None:
        pulumi.runtime.register_stack_transformation(recorder.note_options)
        main()

    # No engine under mocks: pin every tag to a stable fake id derived from it.
    real = docker_cli.image_ids
    docker_cli.image_ids = lambda tags: {t: fake_image_id(t) for t in tags}
    try:
        run()
    finally:
        docker_cli.image_ids = real
    return recorder
