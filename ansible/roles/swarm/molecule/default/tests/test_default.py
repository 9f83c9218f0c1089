"""A three-manager swarm made by playbooks/swarm.yml, seen from each of its nodes.

side_effect.yml demoted node 3, gave node 2 a stale hearth.* label and a foreign one, made
node 3 join again as a worker and demoted node 2 before the role ran again with the
inventory: the role must have put back what it declares.
"""

import ipaddress
import json

import pytest

# What the scenario's inventory (molecule.yml) declares.
DECLARED = {
    "hearth-molecule-swarm-1": {"hearth.data": "true", "hearth.nats": "1", "hearth.edge": "true"},
    "hearth-molecule-swarm-2": {"hearth.nats": "2"},
    "hearth-molecule-swarm-3": {"hearth.nats": "3"},
}
CONNECT = (
    "python3 -c 'import socket,sys; "
    "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()'"
)
# A stranger on a link of its own to this node: not a swarm peer.
LAB_UP = r"""
set -e
ip netns add stranger
ip link add molecule0 type veth peer name eth0 netns stranger
ip addr add 198.51.100.1/24 dev molecule0; ip link set molecule0 up
ip -n stranger addr add 198.51.100.10/24 dev eth0
ip -n stranger link set lo up; ip -n stranger link set eth0 up
"""
LAB_DOWN = "ip netns del stranger; ip link del molecule0"


def info(host):
    return json.loads(host.check_output("docker info --format '{{json .}}'"))


def nodes(host):
    ids = host.check_output("docker node ls -q").split()
    out = json.loads(host.check_output("docker node inspect " + " ".join(ids)))
    return {n["Description"]["Hostname"]: n for n in out}


def dropped(host):
    out = host.check_output("nft list chain inet hearth input")
    line = next(x for x in out.splitlines() if "dropped by the input policy" in x)
    return int(line.split("packets")[1].split()[0])


# Read once per node: every docker exec is slow on a busy machine, and nothing below changes them.
@pytest.fixture(scope="module")
def daemon(host):
    return info(host)


@pytest.fixture(scope="module")
def swarm_nodes(host):
    return nodes(host)


@pytest.fixture(scope="module")
def lab(host):
    host.run(LAB_DOWN)
    res = host.run("bash -s <<'EOS'\n" + LAB_UP + "\nEOS")
    assert res.rc == 0, res.stderr
    yield
    host.run(LAB_DOWN)


def test_node_is_an_active_manager_of_a_three_node_swarm(daemon):
    swarm = daemon["Swarm"]
    assert swarm["LocalNodeState"] == "active"
    assert swarm["ControlAvailable"] is True
    assert swarm["Nodes"] == 3
    assert swarm["Managers"] == 3


def test_every_node_ready_manager_with_its_declared_labels(swarm_nodes):
    seen = swarm_nodes
    assert set(seen) == set(DECLARED)
    for name, node in seen.items():
        assert node["Status"]["State"] == "ready", name
        assert node["Spec"]["Role"] == "manager", name  # nodes 2 and 3 were workers
        labels = node["Spec"].get("Labels") or {}
        hearth = {k: v for k, v in labels.items() if k.startswith("hearth.")}
        assert hearth == DECLARED[name], name  # hearth.stale on node 2 is gone
    # Labels outside hearth.* are not the inventory's: they stay.
    assert seen["hearth-molecule-swarm-2"]["Spec"]["Labels"]["team"] == "ops"


def test_daemon_has_the_swarm_profile(host, daemon):
    assert daemon["LiveRestoreEnabled"] is False
    # Swarm services cannot set security_opt: the daemon default covers their tasks.
    assert "name=no-new-privileges" in daemon["SecurityOptions"]
    conf = json.loads(host.file("/etc/docker/daemon.json").content_string)
    assert conf["live-restore"] is False
    assert conf["no-new-privileges"] is True


def test_overlay_networks_come_from_the_swarm_pool(host, daemon):
    assert daemon["Swarm"]["Cluster"]["DefaultAddrPool"] == ["10.204.0.0/16"]
    subnet = host.check_output(
        "docker network inspect -f '{{(index .IPAM.Config 0).Subnet}}' ingress"
    )
    net = ipaddress.ip_network(subnet.strip())
    assert net.subnet_of(ipaddress.ip_network("10.204.0.0/16"))
    for other in ("10.203.0.0/16", "172.30.0.0/16", "172.31.0.0/16"):
        assert not net.overlaps(ipaddress.ip_network(other))


def test_swarm_ports_open_to_the_other_nodes_only(host, daemon, swarm_nodes):
    me = daemon["Swarm"]["NodeAddr"]
    peers = sorted(n["Status"]["Addr"] for n in swarm_nodes.values() if n["Status"]["Addr"] != me)
    assert len(peers) == 2
    chain = host.check_output("nft list chain inet hearth input")
    sources = "ip saddr { " + ", ".join(peers) + " }"
    for proto, port in (("tcp", 2377), ("tcp", 7946), ("udp", 7946), ("udp", 4789)):
        match = f"{proto} dport {port}"
        rules = [x.strip() for x in chain.splitlines() if match in x]
        assert rules == [f'{sources} {match} accept comment "cluster peers {port}/{proto}"']
    assert f"{sources} meta l4proto esp accept" in chain


def test_peers_reach_the_swarm_ports_of_other_nodes(host, daemon, swarm_nodes):
    me = daemon["Swarm"]["NodeAddr"]
    for node in swarm_nodes.values():
        addr = node["Status"]["Addr"]
        if addr != me:
            assert host.run(f"{CONNECT} {addr} 2377").rc == 0, addr
            assert host.run(f"{CONNECT} {addr} 7946").rc == 0, addr


def test_strangers_do_not_reach_the_swarm_ports(host, lab):
    # Control: the stranger's link works (SSH is open to everyone in this scenario).
    assert host.run(f"ip netns exec stranger {CONNECT} 198.51.100.1 22").rc == 0
    for port in (2377, 7946):
        assert host.socket(f"tcp://0.0.0.0:{port}").is_listening or host.socket(
            f"tcp://:::{port}"
        ).is_listening
        before = dropped(host)
        assert host.run(f"ip netns exec stranger {CONNECT} 198.51.100.1 {port}").rc != 0
        assert dropped(host) > before
