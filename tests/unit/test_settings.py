"""Stack config validation: bad input is named, with the fix, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hearth.settings import SECRET_KEYS, Settings, SettingsError, parse_settings

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def test_defaults_are_the_safe_local_ones() -> None:
    s = parse_settings({})
    assert (s.platform, str(s.bind_address), s.http_port) == ("local", "127.0.0.1", 8080)


def test_the_first_admin_has_a_valid_default_address() -> None:
    assert parse_settings({}).admin_email == "admin@hearth.localhost"
    custom = parse_settings({"hearth:adminEmail": "ops@hearth.example.org"})
    assert custom.admin_email == "ops@hearth.example.org"


def test_string_values_from_pulumi_config_are_converted() -> None:
    assert parse_settings({"hearth:httpPort": "9000"}).http_port == 9000


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("hearth:httpPort", "0", "greater than or equal to 1"),
        ("hearth:httpPort", "65536", "less than or equal to 65535"),
        ("hearth:httpPort", "http", "valid integer"),
        ("hearth:bindAddress", "localhost", "IPv4"),
        ("hearth:platform", "windows", "'local', 'linux', 'wsl2', 'truenas' or 'swarm'"),
        ("hearth:adminEmail", "admin", "should match pattern"),
    ],
)
def test_bad_value_names_the_key_the_value_and_the_fix(key: str, value: str, needle: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings({key: value}, stack="local")
    message = str(err.value)
    assert key in message
    assert repr(value) in message
    assert needle in message
    assert f"pulumi config set {key} <value> --stack local" in message


def test_unknown_key_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings({"hearth:httpPrt": "80"}, stack="local")
    message = str(err.value)
    assert "hearth:httpPrt: unknown setting" in message
    assert "httpPort" in message
    assert "pulumi config rm hearth:httpPrt --stack local" in message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings({"hearth:httpPort": "-1", "hearth:bindAddress": "x"})
    assert "hearth:httpPort" in str(err.value)
    assert "hearth:bindAddress" in str(err.value)


def test_other_namespaces_are_left_to_their_owners() -> None:
    assert parse_settings({"docker:host": "unix:///var/run/docker.sock"}) == Settings()


def test_settings_are_frozen() -> None:
    s = parse_settings({})
    with pytest.raises(ValueError, match="frozen"):
        s.http_port = 1


def test_committed_stack_files_are_valid() -> None:
    files = sorted(STACKS.glob("Pulumi.*.yaml"))
    assert files
    for path in files:
        config = yaml.safe_load(path.read_text())["config"]
        parse_settings({k: str(v) for k, v in config.items()}, stack=path.stem)


def test_every_setting_is_declared_in_the_project_file_with_the_same_default() -> None:
    project = yaml.safe_load((STACKS.parent / "Pulumi.yaml").read_text())
    declared = project["config"]
    fields = {(f.alias or n): f for n, f in Settings.model_fields.items()}
    assert set(declared) == set(fields) | set(SECRET_KEYS)
    for key, spec in declared.items():
        assert {"type", "description", "default"} <= set(spec), key
        if key in fields:
            default = fields[key].default
            assert str(spec["default"]) == ("" if default is None else str(default)), key


@pytest.mark.parametrize(
    ("config", "key", "needle"),
    [
        ({"hearth:platform": "wsl2", "hearth:dataRoot": "/mnt/c/x"}, "dataRoot", "Windows drive"),
        ({"hearth:platform": "wsl2", "hearth:dataRoot": "/mnt/D"}, "dataRoot", "Windows drive"),
        ({"hearth:platform": "linux", "hearth:dataRoot": "srv/x"}, "dataRoot", "absolute"),
        ({"hearth:dataRoot": "/srv/x"}, "dataRoot", "not used on local"),
        ({"hearth:bindAddress": "192.168.1.10"}, "bindAddress", "loopback only"),
        ({"hearth:httpsPort": "8080"}, "httpsPort", "must differ"),
        ({"hearth:acmeEmail": "ops@example.org"}, "acmeEmail", "domain"),
        ({"hearth:platform": "truenas"}, "truenasPool", "required on the truenas platform"),
    ],
)
def test_platform_rules_name_the_key(config: dict[str, str], key: str, needle: str) -> None:
    with pytest.raises(SettingsError) as err:
        parse_settings(config, stack="s")
    line = next(x for x in str(err.value).splitlines() if f"hearth:{key}:" in x)
    assert needle in line
    assert f"pulumi config set hearth:{key} <value> --stack s" in line


def test_wsl2_accepts_a_path_on_the_distro_disk_and_defaults_to_srv() -> None:
    assert parse_settings({"hearth:platform": "wsl2"}).host_data_root == "/srv/hearth"
    custom = parse_settings({"hearth:platform": "wsl2", "hearth:dataRoot": "/mnt/data-disk"})
    assert custom.host_data_root == "/mnt/data-disk"


def test_empty_string_means_unset_as_pulumi_yaml_defaults_say() -> None:
    assert parse_settings({"hearth:domain": "", "hearth:dataRoot": ""}).domain is None


def test_secret_keys_are_not_settings() -> None:
    assert parse_settings({"hearth:truenasApiKey": "k"}) == Settings()


def test_generated_secrets_never_start_with_a_dash_that_a_cli_would_read_as_an_option() -> None:
    from hearth.secrets import new_secret

    values = [new_secret() for _ in range(3000)]
    assert not [v for v in values if v.startswith("-")]
    assert len(set(values)) == len(values)
    assert all(len(v) == 43 for v in values)
