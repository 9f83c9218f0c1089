"""State of a host after platform_host: directories, sysctl, journald, the prune timer."""

import re
import time

import pytest


@pytest.mark.parametrize(
    ("path", "owner", "mode"),
    [
        ("/srv/hearth", 0, 0o755),
        ("/srv/hearth/linux", 0, 0o755),
        ("/srv/hearth/linux/postgres-data", 999, 0o700),
        ("/srv/hearth/linux/redis-data", 998, 0o700),
        ("/srv/hearth/linux/nats-data", 997, 0o700),
        ("/srv/hearth/linux/s3-data", 996, 0o700),
        ("/srv/hearth/linux/edge-data", 10002, 0o700),
        ("/srv/hearth/files", 0, 0o700),
        ("/srv/hearth/backups", 0, 0o750),
    ],
)
def test_data_directories_have_their_owners(host, path, owner, mode):
    d = host.file(path)
    assert d.is_directory
    assert d.uid == owner
    assert d.gid == owner
    assert d.mode == mode


def test_sysctl_file_is_the_last_word_for_our_keys(host):
    f = host.file("/etc/sysctl.d/60-hearth.conf")
    assert f.mode == 0o644
    # What systemd-sysctl will apply at boot: the last value for a key wins.
    merged = host.check_output("/usr/lib/systemd/systemd-sysctl --cat-config")
    effective = {}
    for line in merged.splitlines():
        if "=" in line and not line.lstrip().startswith(("#", ";")):
            key, value = (x.strip() for x in line.split("=", 1))
            effective[key.lstrip("-")] = value
    assert effective["vm.overcommit_memory"] == "1"
    assert effective["net.core.somaxconn"] == "4096"
    assert effective["vm.swappiness"] == "10"


def test_journald_keeps_logs_within_limits(host):
    f = host.file("/etc/systemd/journald.conf.d/60-hearth.conf")
    assert f.mode == 0o644
    assert "SystemMaxUse=1G" in f.content_string
    assert "60-hearth.conf" in host.check_output("systemd-analyze cat-config systemd/journald.conf")
    svc = host.service("systemd-journald")
    assert svc.is_running
    # Storage=persistent took effect: the journal now lives on disk.
    assert host.file("/var/log/journal").is_directory
    assert host.run("journalctl --flush").rc == 0
    # journald reports the limit it really uses when it opens the system journal.
    said = host.check_output("journalctl -t systemd-journald -o cat --no-pager")
    assert re.search(r"System Journal \(/var/log/journal/\w+\) is .*, max 1G,", said)


def test_prune_units_are_valid_and_timer_runs(host):
    for unit in ("hearth-docker-prune.service", "hearth-docker-prune.timer"):
        f = host.file(f"/etc/systemd/system/{unit}")
        assert f.mode == 0o644
        # The ansible_managed header (its wording comes from ansible.cfg).
        assert f.content_string.startswith("#\n# ") and "nsible" in f.content_string.splitlines()[1]
    assert (
        host.run("systemd-analyze verify /etc/systemd/system/hearth-docker-prune.service").rc == 0
    )
    timer = host.service("hearth-docker-prune.timer")
    assert timer.is_enabled
    assert timer.is_running
    assert "hearth-docker-prune.timer" in host.check_output(
        "systemctl list-timers --all --no-pager"
    )


def test_prune_service_removes_dangling_images_and_keeps_tagged(host):
    empty_tar = "tar -cf - -T /dev/null"
    host.check_output(f"{empty_tar} | docker import -m first - molecule/prune-probe:latest")
    host.check_output(f"{empty_tar} | docker import -m second - molecule/prune-probe:latest")
    assert host.check_output("docker images -q -f dangling=true") != ""
    time.sleep(2)  # older than the 1s the scenario configures
    host.check_output("systemctl start hearth-docker-prune.service")
    assert host.check_output("docker images -q -f dangling=true") == ""
    assert host.run("docker image inspect molecule/prune-probe:latest").rc == 0
    assert "--filter until=1s" in host.check_output(
        "systemctl show -p ExecStart hearth-docker-prune.service"
    )
