"""The firewall role's ruleset, loaded, and doing its job on real traffic.

The test host stands in for a Docker host: a bridge named docker0 with a "container"
network namespace behind it, DNAT rules like the ones dockerd writes for published
ports, and two client namespaces: an allowed source (192.0.2.10) and a stranger
(198.51.100.10). Every "blocked" case has a control that proves the target answers.
"""

import pytest

CONNECT = (
    "python3 -c 'import socket,sys; "
    "socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()'"
)
SETUP = r"""
set -e
ip netns add client; ip netns add stranger; ip netns add ctr
ip link add ext0 type veth peer name eth0 netns client
ip link add ext1 type veth peer name eth0 netns stranger
ip link add docker0 type bridge
ip link add vethctr type veth peer name eth0 netns ctr
ip link set vethctr master docker0
ip addr add 192.0.2.1/24 dev ext0; ip addr add 198.51.100.1/24 dev ext1
ip addr add 172.17.0.1/16 dev docker0
for l in ext0 ext1 docker0 vethctr; do ip link set $l up; done
ip -n client addr add 192.0.2.10/24 dev eth0
ip -n stranger addr add 198.51.100.10/24 dev eth0
ip -n ctr addr add 172.17.0.2/16 dev eth0
for n in client stranger ctr; do ip -n $n link set lo up; ip -n $n link set eth0 up; done
ip -n client route add default via 192.0.2.1
ip -n stranger route add default via 198.51.100.1
ip -n ctr route add default via 172.17.0.1
# What dockerd does for "-p 8443:443" and "-p 9000:9000" (its rules live in ip nat).
nft -f - <<'NFT'
table ip molecule_docker {
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
    tcp dport 8443 dnat to 172.17.0.2:443
    tcp dport 9000 dnat to 172.17.0.2:9000
  }
}
NFT
# A bare accept-and-close server (http.server would stall on a reverse DNS lookup).
SERVE='import socket,sys
s = socket.create_server((sys.argv[1], int(sys.argv[2])))
while True: s.accept()[0].close()'
listen() {
  systemd-run --quiet --collect --unit "molecule-listen-$1" $2 python3 -c "$SERVE" "$4" "$3"
}
listen ctr-443 "ip netns exec ctr" 443 172.17.0.2
listen ctr-9000 "ip netns exec ctr" 9000 172.17.0.2
listen client-7000 "ip netns exec client" 7000 192.0.2.10
listen host-9100 "" 9100 0.0.0.0
listen host-8081 "" 8081 0.0.0.0
"""
TEARDOWN = r"""
for u in ctr-443 ctr-9000 client-7000 host-9100 host-8081; do
  systemctl stop "molecule-listen-$u"
done
nft delete table ip molecule_docker
for n in client stranger ctr; do ip netns del $n; done
ip link del docker0; ip link del ext0; ip link del ext1
"""


def can_connect(host, netns, address, port):
    prefix = f"ip netns exec {netns} " if netns else ""
    return host.run(f"{prefix}{CONNECT} {address} {port}").rc == 0


def dropped(host, chain):
    out = host.check_output(f"nft list chain inet hearth {chain}")
    line = next(x for x in out.splitlines() if "counter" in x and ("drop" in x or "policy" in x))
    return int(line.split("packets")[1].split()[0])


@pytest.fixture(scope="module")
def lab(host):
    host.run(TEARDOWN)
    res = host.run("bash -s <<'EOS'\n" + SETUP + "\nEOS")
    assert res.rc == 0, res.stderr
    # The listeners are up when the host itself (not filtered: output path) reaches them.
    for address, port in [("172.17.0.2", 443), ("172.17.0.2", 9000), ("127.0.0.1", 8081)]:
        wait = f"for i in $(seq 50); do {CONNECT} {address} {port} && exit 0; sleep 0.1; done"
        assert host.run(f"{wait}; exit 1").rc == 0, f"nothing listens on {address}:{port}"
    yield
    host.run("bash -s <<'EOS'\n" + TEARDOWN + "\nEOS")


def test_nftables_package_installed(host):
    assert host.package("nftables").is_installed


def test_nftables_service_enabled_and_loaded(host):
    svc = host.service("nftables")
    assert svc.is_enabled
    # A oneshot that stays "active (exited)" once the ruleset is loaded.
    assert host.check_output("systemctl is-active nftables") == "active"


def test_config_files_modes_and_no_flush(host):
    conf = host.file("/etc/nftables.conf")
    assert conf.mode == 0o750
    rules_only = [x for x in conf.content_string.splitlines() if not x.startswith("#")]
    assert not [x for x in rules_only if "flush" in x]
    assert 'include "/etc/nftables.d/*.nft"' in conf.content_string
    rules = host.file("/etc/nftables.d/hearth.nft")
    assert rules.mode == 0o640
    assert rules.user == "root"
    dropin = host.file("/etc/systemd/system/nftables.service.d/hearth.conf")
    assert "ExecStop=/usr/sbin/nft delete table inet hearth" in dropin.content_string
    assert "nft delete table inet hearth" in host.check_output(
        "systemctl show -p ExecStop nftables"
    )


def test_loaded_ruleset_matches_the_inputs(host):
    table = host.check_output("nft list table inet hearth")
    assert "type filter hook input priority filter; policy drop;" in table
    assert "type filter hook forward priority filter - 1; policy accept;" in table
    assert 'oifname "docker0" jump docker-user' in table
    assert 'oifname "br-*" jump docker-user' in table
    assert "ip saddr 192.0.2.0/24 meta l4proto tcp ct original proto-dst 8443 return" in table
    assert "ip saddr 198.51.100.0/24 meta l4proto udp ct original proto-dst 8053 return" in table
    assert "ip saddr { 192.0.2.0/24, 198.51.100.0/24 } tcp dport 22 accept" in table
    assert "ip6 saddr 2001:db8::/32 tcp dport 22 accept" in table
    assert "ip saddr 198.51.100.0/24 tcp dport 9100 accept" in table
    assert "ip saddr { 198.51.100.20, 198.51.100.21 } udp dport 7946 accept" in table
    assert "ip saddr 198.51.100.20 meta l4proto esp accept" in table


def test_reload_keeps_other_tables(host, lab):
    # Docker's rules live in other tables; a firewall reload must leave them in place.
    host.check_output("systemctl reload nftables")
    assert "table ip molecule_docker" in host.check_output("nft list tables")


def test_published_port_reaches_container_from_allowed_source(host, lab):
    assert can_connect(host, "client", "192.0.2.1", 8443)


def test_unpublished_port_to_container_is_dropped(host, lab):
    before = dropped(host, "docker-user")
    # Docker forwards 9000 to the container, which listens (see lab); the firewall drops it.
    assert not can_connect(host, "client", "192.0.2.1", 9000)
    assert dropped(host, "docker-user") > before


def test_published_port_from_other_source_is_dropped(host, lab):
    before = dropped(host, "docker-user")
    assert not can_connect(host, "stranger", "198.51.100.1", 8443)
    assert dropped(host, "docker-user") > before


def test_direct_traffic_to_container_address_is_dropped(host, lab):
    # A neighbour routing straight to the bridge network, skipping the published port.
    assert not can_connect(host, "client", "172.17.0.2", 443)


def test_containers_reach_out(host, lab):
    assert can_connect(host, "ctr", "192.0.2.10", 7000)


def test_ssh_is_open_from_configured_sources(host, lab):
    assert host.socket("tcp://0.0.0.0:22").is_listening
    assert can_connect(host, "client", "192.0.2.1", 22)
    assert can_connect(host, "stranger", "198.51.100.1", 22)


def test_host_service_only_from_its_sources(host, lab):
    assert host.socket("tcp://0.0.0.0:9100").is_listening
    assert can_connect(host, "stranger", "198.51.100.1", 9100)
    assert not can_connect(host, "client", "192.0.2.1", 9100)


def test_other_host_ports_are_dropped_by_input_policy(host, lab):
    assert can_connect(host, None, "127.0.0.1", 8081)  # control: it listens
    before = dropped(host, "input")
    assert not can_connect(host, "client", "192.0.2.1", 8081)
    assert dropped(host, "input") > before
