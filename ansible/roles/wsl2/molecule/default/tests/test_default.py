"""Verify the wsl2 role on the systemd test host (a stand-in for the WSL distro).

PowerShell cannot run here (no pwsh in Debian, PyPI or npm without a download from GitHub),
so the rendered Windows-side files are checked statically: syntax balance, known cmdlets,
and the values that matter.
"""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

OUT = "/var/lib/hearth/windows"
SCENARIO = Path(__file__).resolve().parent.parent
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")

# Every Verb-Noun the scripts may use: a typo or an invented cmdlet fails the test.
KNOWN_CMDLETS = {
    "Copy-Item",
    "Get-Credential",
    "Get-Date",
    "Get-NetFirewallHyperVRule",
    "Get-NetFirewallRule",
    "Join-Path",
    "New-Item",
    "New-NetFirewallHyperVRule",
    "New-NetFirewallRule",
    "New-ScheduledTaskAction",
    "New-ScheduledTaskSettingsSet",
    "New-ScheduledTaskTrigger",
    "New-TimeSpan",
    "Out-Null",
    "Register-ScheduledTask",
    "Remove-NetFirewallHyperVRule",
    "Remove-NetFirewallRule",
    "Select-Object",
    "Set-NetFirewallHyperVVMSetting",
    "Set-StrictMode",
    "Start-ScheduledTask",
    "Start-Sleep",
    "Split-Path",
    "Test-Path",
    "Unregister-ScheduledTask",
    "Where-Object",
    "Write-Host",
    "Get-ScheduledTask",
    "Get-ScheduledTaskInfo",
    "Set-Location",
}


def read(host: Any, path: str) -> str:
    f = host.file(path)
    assert f.exists, path
    return str(f.content_string)


def powershell_problems(text: str) -> list[str]:
    """Unbalanced brackets or quotes, outside comments and strings; dangling continuations."""
    problems = []
    stack: list[str] = []
    pairs = {")": "(", "}": "{", "]": "["}
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("<#", i):
            end = text.find("#>", i)
            if end < 0:
                problems.append("unterminated block comment")
                break
            i = end + 2
            continue
        if c == "#":
            i = text.find("\n", i) if "\n" in text[i:] else n
            continue
        if c == "'":
            end = text.find("'", i + 1)
            if end < 0:
                problems.append(f"unterminated single quote at {i}")
                break
            i = end + 1
            continue
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "`" else 1
            if j >= n:
                problems.append(f"unterminated double quote at {i}")
                break
            i = j + 1
            continue
        if c == "`":
            i += 2
            continue
        if c in "({[":
            stack.append(c)
        elif c in ")}]" and (not stack or stack.pop() != pairs[c]):
            problems.append(f"unbalanced {c!r} at {i}")
        i += 1
    if stack:
        problems.append(f"unclosed {stack}")
    lines = text.replace("\r\n", "\n").split("\n")
    for no, line in enumerate(lines[:-1], 1):
        if line.rstrip().endswith("`") and not lines[no].strip():
            problems.append(f"line {no}: continuation into an empty line")
    return problems


def test_wsl_conf_is_root_owned_and_readable(host: Any) -> None:
    f = host.file("/etc/wsl.conf")
    assert f.user == "root"
    assert f.group == "root"
    assert f.mode == 0o644


def test_wsl_conf_enables_systemd_metadata_and_no_windows_path(host: Any) -> None:
    conf = configparser.ConfigParser()
    conf.read_string(read(host, "/etc/wsl.conf"))
    assert conf["boot"]["systemd"] == "true"
    assert conf["automount"]["enabled"] == "true"
    assert conf["automount"]["root"] == "/mnt/"
    options = conf["automount"]["options"].strip('"').split(",")
    assert {"metadata", "uid=1000", "gid=1000"} <= set(options)
    assert conf["network"]["generateResolvConf"] == "true"
    assert conf["network"]["hostname"] == "hearth-wsl"
    assert conf["interop"]["appendWindowsPath"] == "false"
    assert conf["user"]["default"] == "hearth"


def test_wsl_conf_says_it_is_managed(host: Any) -> None:
    assert read(host, "/etc/wsl.conf").startswith("#")
    assert "Ansible" in read(host, "/etc/wsl.conf").splitlines()[1]


def test_wslconfig_sets_the_vm_resources_and_mirrored_networking(host: Any) -> None:
    text = read(host, f"{OUT}/.wslconfig")
    assert "\r\n" in text  # Windows line ends
    conf = configparser.ConfigParser()
    conf.optionxform = str  # type: ignore[assignment,method-assign]
    conf.read_string(text)
    wsl2 = conf["wsl2"]
    assert (wsl2["memory"], wsl2["processors"], wsl2["swap"]) == ("8GB", "4", "2GB")
    assert wsl2["networkingMode"] == "mirrored"
    assert wsl2["firewall"] == "true"
    assert wsl2["dnsTunneling"] == "true"
    assert wsl2["vmIdleTimeout"] == "-1"
    assert conf["experimental"]["autoMemoryReclaim"] == "gradual"
    assert conf["experimental"]["sparseVhd"] == "true"


@pytest.mark.parametrize("name", ["Install-HearthWsl.ps1", "Start-HearthWsl.ps1"])
def test_powershell_is_balanced_and_fully_rendered(host: Any, name: str) -> None:
    text = read(host, f"{OUT}/{name}")
    assert "{{" not in text
    assert "{%" not in text
    assert powershell_problems(text) == []
    assert "Set-StrictMode -Version Latest" in text
    assert "$ErrorActionPreference = 'Stop'" in text


@pytest.mark.parametrize("name", ["Install-HearthWsl.ps1", "Start-HearthWsl.ps1"])
def test_powershell_uses_only_known_cmdlets(host: Any, name: str) -> None:
    code = re.sub(r"<#.*?#>|#[^\n]*|'[^']*'", "", read(host, f"{OUT}/{name}"), flags=re.S)
    code = re.sub(r'"[^"]*"', lambda m: " ".join(re.findall(r"\$\((.*?)\)", m.group())), code)
    used = set(re.findall(r"\b[A-Z][a-z]+-[A-Z][A-Za-z]+\b", code))
    assert used <= KNOWN_CMDLETS, used - KNOWN_CMDLETS


def test_boot_task_runs_at_startup_without_time_limit_and_restarts(host: Any) -> None:
    text = read(host, f"{OUT}/Install-HearthWsl.ps1")
    assert "#Requires -RunAsAdministrator" in text
    assert "New-ScheduledTaskTrigger -AtStartup" in text
    assert "-ExecutionTimeLimit ([TimeSpan]::Zero)" in text  # no 3-day limit
    assert "-RestartCount 999" in text
    # A stored password is what "run whether user is logged on or not" means.
    assert re.search(r"Register-ScheduledTask .*-User \$Credential\.UserName -Password", text, re.S)
    assert "$TaskName = 'Hearth WSL'" in text


def test_boot_script_keeps_the_distro_alive(host: Any) -> None:
    text = read(host, f"{OUT}/Start-HearthWsl.ps1")
    assert "[string] $Distro = 'Debian'" in text
    assert text.rstrip().endswith("wsl.exe -d $Distro --exec /bin/sh -c 'exec sleep infinity'")
    assert "portproxy" not in text  # mirrored mode needs none


def test_mirrored_mode_opens_each_published_port_in_the_hyperv_firewall(host: Any) -> None:
    text = read(host, f"{OUT}/Install-HearthWsl.ps1")
    assert "$VmCreatorId = '{40E0AC32-46A5-438A-A0B2-2B479E8F2E90}'" in text
    for port, proto in ((80, "TCP"), (443, "TCP"), (8443, "UDP")):
        assert f"@{{ Port = {port}; Protocol = '{proto}' }}" in text
    assert "New-NetFirewallHyperVRule @rule" in text
    assert "$AllowedSources = @('192.168.1.0/24')" in text
    assert "-DefaultInboundAction Block" in text
    assert "netsh" not in text


def test_windows_readme_explains_how_to_run_the_installer(host: Any) -> None:
    text = read(host, f"{OUT}/README-windows.txt")
    assert "Run as administrator" in text
    assert "-ExecutionPolicy Bypass -File .\\Install-HearthWsl.ps1" in text
    assert "\\\\wsl.localhost\\Debian\\var\\lib\\hearth\\windows" in text


def test_windows_files_are_world_readable_not_executable(host: Any) -> None:
    for name in (".wslconfig", "Install-HearthWsl.ps1", "Start-HearthWsl.ps1"):
        assert host.file(f"{OUT}/{name}").mode == 0o644


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("-u 'C:\\Users\\me\\My Files'", "/mnt/c/Users/me/My Files"),
        ("-u 'D:'", "/mnt/d"),
        ("-u '\\\\wsl.localhost\\Debian\\srv\\hearth'", "/srv/hearth"),
        ("-w /mnt/c/Users/me", "C:\\Users\\me"),
        ("-m /mnt/e/data", "E:/data"),
        ("-w /srv/hearth", "\\\\wsl.localhost\\Debian\\srv\\hearth"),
        ("-u /already/linux", "/already/linux"),
    ],
)
def test_path_helper_translates_without_wslpath(host: Any, args: str, expected: str) -> None:
    assert not host.exists("wslpath")  # the test host has none: the fallback is exercised
    out = host.check_output(f"/usr/local/bin/hearth-wslpath {args}")
    assert out == expected


def test_path_helper_is_executable_and_rejects_bad_usage(host: Any) -> None:
    assert host.file("/usr/local/bin/hearth-wslpath").mode == 0o755
    assert host.run("/usr/local/bin/hearth-wslpath").rc == 2


def run_playbook(playbook: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """ansible-playbook against the test host; stdout with whitespace runs made single."""
    proc = subprocess.run(  # noqa: S603
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            os.environ["MOLECULE_INVENTORY_FILE"],
            str(SCENARIO / playbook),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={
            **os.environ,
            "ANSIBLE_ROLES_PATH": str(SCENARIO.parent.parent.parent),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        },
    )
    proc.stdout = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr).split())
    return proc


@pytest.mark.parametrize("root", ["/mnt/c/hearth", "/mnt/D", "/mnt/c"])
def test_data_root_on_a_windows_drive_is_refused(root: str) -> None:
    proc = run_playbook(
        "refuse.yml", "-e", f"wsl2_data_root={root}", "-e", "wsl2_require_wsl=false"
    )
    assert proc.returncode != 0
    assert f"wsl2_data_root={root} is on a Windows drive" in proc.stdout


def test_data_root_that_only_looks_like_a_drive_is_accepted() -> None:
    proc = run_playbook(
        "refuse.yml", "-e", "wsl2_data_root=/mnt/data/hearth", "-e", "wsl2_require_wsl=false"
    )
    assert proc.returncode == 0, proc.stdout


def test_a_host_that_is_not_wsl_is_refused() -> None:
    proc = run_playbook("refuse.yml", "-e", "wsl2_require_wsl=true")
    assert proc.returncode != 0
    assert "is not a WSL 2 kernel" in proc.stdout


def test_nat_mode_renders_portproxy_reapplied_at_boot(host: Any) -> None:
    out = "/tmp/hearth-nat"  # noqa: S108
    proc = run_playbook(
        "render.yml", "-e", "wsl2_networking_mode=nat", "-e", f"wsl2_windows_output_dir={out}"
    )
    assert proc.returncode == 0, proc.stdout
    start = read(host, f"{out}/Start-HearthWsl.ps1")
    install = read(host, f"{out}/Install-HearthWsl.ps1")
    assert powershell_problems(start) == []
    assert powershell_problems(install) == []
    assert "$Ports = @(80, 443)" in start
    assert (
        "netsh.exe interface portproxy add v4tov4 listenport=$port listenaddress=0.0.0.0 "
        "connectport=$port connectaddress=$address"
    ) in start
    assert start.index("portproxy add") < start.index("sleep infinity")
    assert "New-NetFirewallRule" in install
    assert "-LocalPort $p.Port" in install
    assert "HyperV" not in install
    assert "networkingMode=nat" in read(host, f"{out}/.wslconfig")
