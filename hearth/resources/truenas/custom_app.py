"""One TrueNAS custom app (`app.create/update/delete`, all jobs): a Compose document.

The diff compares the Compose documents as data, so a second `up` with the same document
(even formatted differently) changes nothing; any real change is one `app.update`, which
TrueNAS redeploys. The datasets the app mounts are separate resources and never touched
by an app update.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import yaml
from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from hearth.resources.truenas.base import TrueNASProvider, diff_result, failure, known, strip
from hearth.resources.truenas.connection import TrueNASOperationError
from hearth.resources.truenas.rpc import TrueNASClient

APP_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
REPLACE_ON = ("app_name",)


@dataclass(frozen=True)
class CustomAppArgs:
    app_name: str
    """TrueNAS app name: lowercase letters, digits and '-', at most 40 characters."""
    compose: pulumi.Input[str]
    """The Compose document (YAML). It must hold no secret value: secrets go in files."""


def app_name_for(prefix: str) -> str:
    """A valid app name from a stack prefix such as `hearth-Prod_1` → `hearth-prod-1`."""
    name = re.sub(r"[^a-z0-9-]+", "-", prefix.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"hearth-{name}".strip("-")
    return name[:40].rstrip("-")


def _parse(compose: Any) -> Any:
    try:
        return yaml.safe_load(str(compose))
    except yaml.YAMLError:
        return None


class CustomAppProvider(TrueNASProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = []
        name = news.get("app_name")
        if not (isinstance(name, str) and APP_NAME.match(name) and len(name) <= 40):
            failures.append(
                failure(
                    "app_name",
                    f"app_name {name!r} must be lowercase letters, digits and '-', "
                    "start with a letter, end with a letter or digit, at most 40 characters",
                )
            )
        compose = news.get("compose")
        if known(compose):
            doc = _parse(compose)
            if not isinstance(doc, dict) or not isinstance(doc.get("services"), dict):
                failures.append(
                    failure(
                        "compose",
                        "compose must be a YAML Compose document with a 'services' mapping",
                    )
                )
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in REPLACE_ON if olds.get(k) != news.get(k)]
        compose = news.get("compose")
        if not known(compose) or _parse(olds.get("compose")) != _parse(compose):
            changed.append("compose")
        # Two apps cannot publish the same ports: the old one goes first.
        return diff_result(changed, REPLACE_ON, delete_before_replace=True)

    @staticmethod
    def _query(c: TrueNASClient, name: str) -> dict[str, Any] | None:
        found = c.call("app.query", [["name", "=", name]], {"extra": {"retrieve_config": True}})
        return found[0] if found else None

    @staticmethod
    def _deployed(name: str, entry: Any) -> dict[str, Any]:
        """The app entry a create or update job returned; a crashed app fails the step."""
        if not isinstance(entry, dict):
            return {}
        if entry.get("state") == "CRASHED":
            raise TrueNASOperationError(
                f"app {name!r} crashed after deploying: open Apps > {name} > Workloads on the "
                "NAS for the containers' logs (missing images are the usual cause)"
            )
        return entry

    @staticmethod
    def _outs(props: dict[str, Any], entry: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "app_name": props["app_name"],
            "compose": props["compose"],
            "state": (entry or {}).get("state"),
        }

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip(props)
        name = props["app_name"]
        with self.session(f"create app {name}") as c:
            if self._query(c, name) is not None:
                entry = c.call(
                    "app.update",
                    name,
                    {"custom_compose_config_string": props["compose"]},
                    job=True,
                )
            else:
                entry = c.call(
                    "app.create",
                    {
                        "app_name": name,
                        "custom_app": True,
                        "custom_compose_config_string": props["compose"],
                    },
                    job=True,
                )
        return CreateResult(name, self._outs(props, self._deployed(name, entry)))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip(props)
        with self.session(f"read app {id_}") as c:
            entry = self._query(c, id_)
        if entry is None:
            return ReadResult("", {})
        compose = props.get("compose")
        if entry.get("config") != _parse(compose):
            compose = yaml.safe_dump(entry.get("config"), sort_keys=False)
        return ReadResult(id_, self._outs({"app_name": id_, "compose": compose}, entry))

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip(news)
        with self.session(f"update app {id_}") as c:
            entry = c.call(
                "app.update", id_, {"custom_compose_config_string": news["compose"]}, job=True
            )
        return UpdateResult(self._outs(news, self._deployed(id_, entry)))

    def delete(self, id_: str, _props: dict[str, Any]) -> None:
        # The app's containers go; its data lives on datasets, which stay.
        with self.session(f"delete app {id_}") as c:
            if self._query(c, id_) is not None:
                c.call(
                    "app.delete",
                    id_,
                    {"remove_images": False, "remove_ix_volumes": False},
                    job=True,
                )


class _CustomApp(Resource, module="truenas", name="CustomApp"):
    app_name: pulumi.Output[str]
    state: pulumi.Output[str]

    def __init__(self, name: str, props: dict[str, Any], opts: pulumi.ResourceOptions) -> None:
        super().__init__(CustomAppProvider(), name, {**props, "state": None}, opts)


class CustomApp(pulumi.ComponentResource):
    """The stack's services as one app in TrueNAS's Apps screen."""

    app_name: pulumi.Output[str]
    state: pulumi.Output[str]

    def __init__(
        self, name: str, args: CustomAppArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("hearth:truenas:CustomApp", name, None, opts)
        child = _CustomApp(
            name,
            {"app_name": args.app_name, "compose": args.compose},
            pulumi.ResourceOptions(parent=self),
        )
        self.app_name = child.app_name
        self.state = child.state
        self.register_outputs({"app_name": child.app_name, "state": child.state})
