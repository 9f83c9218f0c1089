"""State of a host after the common role: packages, admin account, sshd, time sync, upgrades."""

import pytest

ADMIN = "hearth"
KEY = "/root/molecule_ed25519"
SSH = f"ssh -i {KEY} -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"


@pytest.mark.parametrize(
    "name",
    [
        "ca-certificates",
        "curl",
        "jq",
        "sudo",
        "openssh-server",
        "systemd-timesyncd",
        "unattended-upgrades",
        "tree",
    ],
)
def test_package_is_installed(host, name):
    assert host.package(name).is_installed


def test_admin_account_has_keys_only_and_sudo(host):
    user = host.user(ADMIN)
    assert user.exists
    assert "sudo" in user.groups
    assert user.shell == "/bin/bash"
    # "!" : no password can ever match.
    assert host.check_output(f"getent shadow {ADMIN}").split(":")[1].startswith("!")
    keys = host.file(f"/home/{ADMIN}/.ssh/authorized_keys")
    assert keys.user == ADMIN
    assert keys.mode == 0o600
    assert host.file(f"{KEY}.pub").content_string.strip() in keys.content_string


def test_sudo_rule_is_passwordless_and_valid(host):
    rule = host.file("/etc/sudoers.d/hearth-admin")
    assert rule.mode == 0o440
    assert f"{ADMIN} ALL=(ALL:ALL) NOPASSWD: ALL" in rule.content_string
    assert host.run("visudo -c").rc == 0


def test_sshd_effective_config_is_hardened(host):
    # sshd -T prints the configuration sshd really uses, after every include.
    effective = host.check_output("sshd -T")
    for line in (
        "permitrootlogin no",
        "passwordauthentication no",
        "kbdinteractiveauthentication no",
        "authenticationmethods publickey",
        f"allowusers {ADMIN}",
        "x11forwarding no",
        "allowtcpforwarding local",
        "maxauthtries 3",
    ):
        assert line in effective.splitlines(), line
    assert host.file("/etc/ssh/sshd_config.d/10-hearth.conf").mode == 0o644


def test_sshd_is_enabled_running_and_listening(host):
    ssh = host.service("ssh")
    assert ssh.is_enabled
    assert ssh.is_running
    assert host.socket("tcp://0.0.0.0:22").is_listening


def test_admin_logs_in_with_key_and_becomes_root(host):
    out = host.check_output(f"{SSH} {ADMIN}@127.0.0.1 sudo -n id -u")
    assert out.strip() == "0"


def test_password_login_is_not_offered(host):
    res = host.run(f"{SSH} -o PreferredAuthentications=password {ADMIN}@127.0.0.1 true")
    assert res.rc != 0
    assert "Permission denied (publickey)" in res.stderr


def test_root_login_is_refused_even_with_a_key(host):
    host.check_output(f"install -d -m 0700 /root/.ssh && cp {KEY}.pub /root/.ssh/authorized_keys")
    try:
        assert host.run(f"{SSH} root@127.0.0.1 true").rc != 0
    finally:
        host.run("rm -f /root/.ssh/authorized_keys")


def test_timesyncd_is_enabled_with_our_servers(host):
    assert host.service("systemd-timesyncd").is_enabled
    conf = host.file("/etc/systemd/timesyncd.conf.d/60-hearth.conf")
    assert conf.mode == 0o644
    assert "NTP=ntp1.example.net ntp2.example.net" in conf.content_string
    # What timesyncd will read: our drop-in is part of its merged configuration.
    assert "60-hearth.conf" in host.check_output(
        "systemd-analyze cat-config systemd/timesyncd.conf"
    )


def test_unattended_security_upgrades_are_on(host):
    config = host.check_output("apt-config dump")
    assert 'APT::Periodic::Update-Package-Lists "1";' in config
    assert 'APT::Periodic::Unattended-Upgrade "1";' in config
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in config
    # Debian's own file selects the security archive; it must still be in force.
    assert "label=Debian-Security" in config
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled
        assert host.service(timer).is_running
