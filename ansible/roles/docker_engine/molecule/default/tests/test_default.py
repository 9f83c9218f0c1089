"""State of a host after docker_engine: packages, daemon.json, a running daemon using it."""

import ipaddress
import json

import pytest


@pytest.mark.parametrize("name", ["docker.io", "docker-cli", "containerd", "runc", "iptables"])
def test_engine_packages_come_from_debian(host, name):
    assert host.package(name).is_installed


def test_daemon_json_has_hearth_settings(host):
    f = host.file("/etc/docker/daemon.json")
    assert f.user == "root"
    assert f.group == "root"
    assert f.mode == 0o644
    conf = json.loads(f.content_string)
    assert conf["log-driver"] == "local"
    assert conf["log-opts"] == {"max-size": "10m", "max-file": "3"}
    assert conf["live-restore"] is True
    assert conf["no-new-privileges"] is True
    assert conf["default-address-pools"] == [{"base": "10.203.0.0/16", "size": 24}]
    assert conf["max-concurrent-downloads"] == 2


def test_daemon_json_is_valid_for_dockerd(host):
    assert host.run("dockerd --validate --config-file=/etc/docker/daemon.json").rc == 0


@pytest.mark.parametrize("unit", ["containerd", "docker"])
def test_services_enabled_and_running(host, unit):
    svc = host.service(unit)
    assert svc.is_enabled
    assert svc.is_running


def test_docker_socket_listens_and_belongs_to_group_docker(host):
    assert host.socket("unix:///run/docker.sock").is_listening
    sock = host.file("/run/docker.sock")
    assert sock.group == "docker"
    assert sock.mode == 0o660


def test_running_daemon_uses_daemon_json(host):
    info = json.loads(host.check_output("docker info --format '{{json .}}'"))
    assert info["LoggingDriver"] == "local"
    assert info["LiveRestoreEnabled"] is True
    assert info["ServerVersion"].startswith("26.")


def test_new_networks_come_from_our_pool_clear_of_truenas(host):
    host.run("docker network rm molecule-pool-probe")
    host.check_output("docker network create molecule-pool-probe")
    try:
        subnet = host.check_output(
            "docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' molecule-pool-probe"
        )
    finally:
        host.run("docker network rm molecule-pool-probe")
    net = ipaddress.ip_network(subnet.strip())
    assert net.subnet_of(ipaddress.ip_network("10.203.0.0/16"))
    assert net.prefixlen == 24
    for truenas in ("172.30.0.0/16", "172.31.0.0/16"):
        assert not net.overlaps(ipaddress.ip_network(truenas))


def test_listed_account_reaches_the_daemon(host):
    assert "docker" in host.user("deployer").groups
    out = host.check_output("runuser -u deployer -- docker version --format '{{.Server.Version}}'")
    assert out.strip().startswith("26.")


def test_docker_rules_and_hearth_firewall_live_side_by_side(host):
    def tables():
        return host.check_output("nft list tables").splitlines()

    assert {"table ip filter", "table ip nat", "table inet hearth"} <= set(tables())
    # iptables-nft can still read the chains dockerd made, DOCKER-USER included.
    assert host.run("iptables -n -L DOCKER-USER").rc == 0
    assert "incompatible" not in host.check_output("journalctl -u docker --no-pager")
    # Reloading the firewall keeps Docker's tables; restarting Docker keeps ours.
    host.check_output("systemctl reload nftables")
    assert {"table ip filter", "table ip nat"} <= set(tables())
    host.check_output("systemctl restart docker")
    assert host.service("docker").is_running
    assert "table inet hearth" in tables()
    assert host.run("iptables -n -L DOCKER-USER").rc == 0
