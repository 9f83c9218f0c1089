"""Each policy of the security baseline against a compliant and a violating document, as
data, and through the policy SDK's own validate call; the documents both targets render
for every stack pass them all."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from hearth.catalog import services
from hearth.settings import parse_settings
from hearth.targets.truenas import Layout, compose_document
from policies.baseline import (
    COMPOSE_PROJECT,
    CUSTOM_APP,
    POLICIES,
    RULES,
    Rule,
    looks_like_key,
    secret_name,
    violations,
)
from tests.policies.documents import compliant

RULE = {r.name: r for r in RULES}
Change = Callable[[dict[str, Any]], None]


def setting(service: str, key: str, value: Any) -> Change:
    def change(props: dict[str, Any]) -> None:
        props["services"][service][key] = value

    return change


def removing(service: str, key: str) -> Change:
    def change(props: dict[str, Any]) -> None:
        del props["services"][service][key]

    return change


# (rule, change, service named, the fix the message must give)
VIOLATIONS: list[tuple[str, Change, str, str]] = [
    ("non-root-user", setting("redis", "user", "0:0"), "redis", "non-root numeric"),
    ("non-root-user", removing("redis", "user"), "redis", "set `user`"),
    ("non-root-user", setting("redis", "user", "redis"), "redis", "numeric uid:gid"),
    ("capabilities-dropped", removing("edge", "cap_drop"), "edge", "`cap_drop: [ALL]`"),
    ("capabilities-dropped", setting("app-1", "cap_add", ["SYS_ADMIN"]), "app-1", "cap_add"),
    ("capabilities-dropped", setting("app-1", "privileged", True), "app-1", "`privileged`"),
    ("no-new-privileges", setting("redis", "security_opt", []), "redis", "no-new-privileges"),
    ("read-only-root", setting("migrate", "read_only", False), "migrate", "`read_only: true`"),
    ("resource-limits", removing("redis", "mem_limit"), "redis", "`mem_limit`"),
    ("resource-limits", setting("redis", "memswap_limit", "1g"), "redis", "`memswap_limit`"),
    ("resource-limits", removing("redis", "pids_limit"), "redis", "`pids_limit`"),
    ("healthcheck", removing("app-1", "healthcheck"), "app-1", "`healthcheck.test`"),
    ("healthcheck", setting("app-1", "healthcheck", {"disable": True}), "app-1", "healthcheck"),
    ("restart-policy", removing("app-1", "restart"), "app-1", "`restart: unless-stopped`"),
    ("restart-policy", setting("migrate", "restart", "always"), "migrate", "`restart: 'no'`"),
    ("log-rotation", removing("redis", "logging"), "redis", "driver: local"),
    ("log-rotation", setting("redis", "logging", {"driver": "json-file"}), "redis", "max-size"),
    (
        "log-rotation",
        setting(
            "redis",
            "logging",
            {
                "driver": "syslog",
                "options": {
                    "cache-max-size": "1m",
                    "cache-max-file": "2",
                    "cache-disabled": "true",
                },
            },
        ),
        "redis",
        "driver: local",
    ),
    ("ports-only-on-edge", setting("redis", "ports", ["6379:6379"]), "redis", "remove its `ports`"),
    (
        "ports-only-on-edge",
        setting("redis", "ports", [{"target": 6379, "published": "6379", "host_ip": "192.0.2.1"}]),
        "redis",
        "remove its `ports`",
    ),
    ("ports-only-on-edge", setting("app-1", "network_mode", "host"), "app-1", "network_mode"),
    (
        "data-on-internal-networks",
        setting("redis", "networks", {"backend": {}, "edge": {}}),
        "redis",
        "only to internal networks",
    ),
    (
        "data-on-internal-networks",
        # Not labelled a data service, but it writes a volume: one all the same.
        setting("app-1", "volumes", ["app-data:/var/lib/app"]),
        "app-1",
        "only to internal networks",
    ),
    (
        "no-secret-in-environment",
        setting("redis", "environment", {"REDIS_PASSWORD": "correct-horse"}),
        "redis",
        "REDIS_PASSWORD_FILE",
    ),
    (
        "no-secret-in-environment",
        setting("app-1", "environment", ["HEARTH_S3_SECRET_KEY=abc"]),
        "app-1",
        "HEARTH_S3_SECRET_KEY_FILE",
    ),
    (
        "no-secret-in-environment",
        setting("app-1", "environment", {"DATABASE_URL": "postgres://app:pw@postgres/app"}),
        "app-1",
        "looks like a key",
    ),
    (
        "no-secret-in-environment",
        setting("app-1", "environment", {"SESSION_FILE": "inline-value"}),
        "app-1",
        "must name a file",
    ),
]


def test_a_compliant_document_passes_every_policy() -> None:
    for rule in RULES:
        assert violations(COMPOSE_PROJECT, compliant(), rule) == [], rule.name


@pytest.mark.parametrize(
    ("rule", "change", "service", "fix"),
    VIOLATIONS,
    ids=[f"{v[0]}-{i}" for i, v in enumerate(VIOLATIONS)],
)
def test_a_violation_names_the_service_and_the_fix(
    rule: str, change: Change, service: str, fix: str
) -> None:
    props = compliant()
    change(props)
    found = violations(COMPOSE_PROJECT, props, RULE[rule])
    assert len(found) == 1, found
    assert found[0].startswith(f"service {service!r}"), found
    assert fix in found[0], found
    # Only this rule fires: each policy says one thing.
    others = {r.name for r in RULES if r.name != rule and violations(COMPOSE_PROJECT, props, r)}
    assert not others


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [
        (
            "redis",
            "logging",
            {"driver": "json-file", "options": {"max-size": "5m", "max-file": "2"}},
        ),
        ("redis", "logging", {"driver": "local"}),  # the local driver rotates by itself
        (  # for the host alone: not reachable from the LAN
            "redis",
            "ports",
            [{"target": 6379, "published": "16379", "host_ip": "127.0.0.1", "protocol": "udp"}],
        ),
        (  # a remote driver, with the bounded copy `docker logs` reads (dual logging)
            "redis",
            "logging",
            {"driver": "syslog", "options": {"cache-max-size": "10m", "cache-max-file": "3"}},
        ),
        ("redis", "security_opt", ["no-new-privileges"]),
        ("app-1", "cap_add", ["NET_BIND_SERVICE"]),
        ("app-1", "restart", "on-failure:3"),
        ("app-1", "volumes", ["/srv/conf:/etc/app:ro"]),  # read-only: not data
        ("redis", "deploy", {"resources": {"limits": {"pids": 64}}}),
        ("redis", "environment", ["ROOT_ACCESS_KEY=hearth-root", "GOMEMLIMIT=204MiB"]),
    ],
)
def test_equivalent_forms_pass(service: str, key: str, value: Any) -> None:
    props = compliant()
    props["services"][service][key] = value
    if key == "deploy":
        del props["services"][service]["pids_limit"]
    assert [v for r in RULES for v in violations(COMPOSE_PROJECT, props, r)] == []


def test_no_message_repeats_a_secret_value() -> None:
    props = compliant()
    value = "hunter2-but-much-longer"
    pem = f"-----BEGIN PRIVATE KEY-----\n{value}"
    props["services"]["redis"]["environment"] = {"REDIS_PASSWORD": value, "X": pem}
    found = violations(COMPOSE_PROJECT, props, RULE["no-secret-in-environment"])
    assert len(found) == 2
    assert not any(value in m for m in found)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("POSTGRES_PASSWORD", True),
        ("HEARTH_AUTH_KEY_ENCRYPTION_SECRET", True),
        ("GITHUB_TOKEN", True),
        ("SIGNING_KEY", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("POSTGRES_PASSWORD_FILE", False),
        ("HEARTH_S3_ACCESS_KEY", False),
        ("KMS_KEY_ID", False),
        ("HEARTH_DB_USER", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert secret_name(name) is secret


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn", True),
        ("AKIAIOSFODNN7EXAMPLE", True),
        ("nats://app:s3cret@nats:4222", True),
        ("q8Zk3_vR1xN0yLw5T2mBc7HsJd9FgPa4", True),  # secrets.token_urlsafe(24)
        ("https://localhost:8443", False),
        ("nats://nats:4222", False),
        ('["edge"]', False),
        ("admin@hearth.localhost", False),
        ("hearth-app", False),
        ("/run/secrets/app_db_password", False),
        ("/run/secrets/HEARTH_BOOTSTRAP_ADMIN_PASSWORD", False),
        ("abcdefghijklmnopqrstuvwxyz0123", False),  # varied, not random
        ("HEARTH_AUTH_KEY_ENCRYPTION_SECRET", False),
    ],
)
def test_key_shaped_values(value: str, key: bool) -> None:
    assert looks_like_key(value) is key


def test_the_truenas_custom_app_is_checked_from_its_compose_yaml() -> None:
    props = compliant()
    props["services"]["redis"]["ports"] = ["6379:6379"]
    app = {"app_name": "hearth-t", "compose": yaml.safe_dump(props)}
    found = violations(CUSTOM_APP, app, RULE["ports-only-on-edge"])
    assert found and found[0].startswith("service 'redis'")
    broken = violations(CUSTOM_APP, {"compose": "services: [unclosed"}, RULE["healthcheck"])
    assert broken and "cannot be checked" in broken[0]


def test_other_resources_are_not_checked() -> None:
    props = {"services": {"x": {"user": "0:0"}}}
    assert violations("pulumi-python:dynamic/hearth:HostFile", props, RULE["non-root-user"]) == []


def as_sent(value: Any) -> Any:
    """Numbers as Pulumi sends them to an analyzer: floats."""
    if isinstance(value, dict):
        return {k: as_sent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sent(v) for v in value]
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


def args(resource_type: str, props: dict[str, Any]) -> ResourceValidationArgs:
    """What the analyzer hands a policy: the inputs behind the SDK's read-only proxies."""
    opts = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return ResourceValidationArgs(
        resource_type,
        unknown_checking_proxy(as_sent(props)),
        f"urn:pulumi:t::hearth::{resource_type}::hearth-t",
        "hearth-t",
        opts,
        None,
    )


def test_every_policy_is_mandatory_and_validates_through_the_sdk() -> None:
    assert [p.name for p in POLICIES] == [r.name for r in RULES]
    bad = compliant()
    bad["services"]["redis"]["user"] = "0:0"
    for policy in POLICIES:
        assert isinstance(policy, ResourceValidationPolicy), policy.name
        assert policy.enforcement_level is EnforcementLevel.MANDATORY, policy.name
        assert reported(policy, compliant()) == [], policy.name
        found = reported(policy, bad)
        assert bool(found) is (policy.name == "non-root-user"), (policy.name, found)


def reported(policy: ResourceValidationPolicy, props: dict[str, Any]) -> list[str]:
    messages: list[str] = []
    policy.validate(args(COMPOSE_PROJECT, props), lambda message, _urn: messages.append(message))
    return messages


def test_the_truenas_document_of_the_catalog_passes_every_policy() -> None:
    config = {
        "hearth:platform": "truenas",
        "hearth:truenasUrl": "wss://nas.example/api/current",
        "hearth:truenasPool": "tank",
        # Off-box copiers too: a route out, and nothing writable mounted.
        "hearth:backupS3Url": "https://s3.example.org",
        "hearth:backupS3Bucket": "hearth-copies",
    }
    settings = parse_settings(config, stack="nas")
    document = compose_document(settings, Layout("tank/nas"), "hearth-nas", services(settings))
    app = {"app_name": "hearth-nas", "compose": document}
    for rule in RULES:
        assert violations(CUSTOM_APP, app, rule) == [], rule.name


def test_rules_have_unique_names() -> None:
    assert len({r.name for r in RULES}) == len(RULES)
    assert all(isinstance(r, Rule) and r.description for r in RULES)
