"""Cluster helpers for the swarm role and playbooks/swarm.yml (stdlib ipaddress, no netaddr).

Both the firewall (which runs before Docker) and the swarm role need every node's address
and role; computing them here, from the inventory, keeps the two in step.
"""

import ipaddress

from ansible.errors import AnsibleFilterError

# Swarm's ports between nodes (Docker's "Getting started with swarm mode" list).
_MANAGER_PORTS = [{"port": 2377, "proto": "tcp"}]  # cluster management (raft, joins)
_NODE_PORTS = [
    {"port": 7946, "proto": "tcp"},  # node discovery and gossip
    {"port": 7946, "proto": "udp"},
    {"port": 4789, "proto": "udp"},  # overlay data path (VXLAN)
    {"proto": "esp"},  # overlays created with --opt encrypted (IPsec ESP)
]


def _var(hostvars, host, name):
    try:
        return hostvars[host].get(name)
    except KeyError as exc:
        raise AnsibleFilterError(f"swarm: {host} is not in the inventory") from exc


def swarm_addresses(hosts, hostvars):
    """Map each host to its swarm address: swarm_advertise_addr, else its default IPv4 address."""
    out = {}
    for host in hosts:
        addr = _var(hostvars, host, "swarm_advertise_addr") or ""
        if not addr:
            facts = _var(hostvars, host, "ansible_facts") or {}
            addr = (facts.get("default_ipv4") or {}).get("address", "")
        if not addr:
            raise AnsibleFilterError(
                f"swarm: no address for {host}: set swarm_advertise_addr for it, or run the play "
                "on the whole group so its facts (default IPv4 address) are gathered"
            )
        try:
            ipaddress.ip_address(str(addr))
        except ValueError as exc:
            raise AnsibleFilterError(
                f"swarm: swarm_advertise_addr of {host} must be an IP address, not {addr!r}"
            ) from exc
        out[host] = str(addr)
    return out


def swarm_roles(hosts, hostvars):
    """Map each host to its swarm_role (manager|worker); refuse a host without one."""
    out = {}
    for host in hosts:
        role = _var(hostvars, host, "swarm_role")
        if role not in ("manager", "worker"):
            raise AnsibleFilterError(
                f"swarm: swarm_role of {host} must be manager or worker, not {role!r}"
            )
        out[host] = role
    return out


def swarm_firewall_rules(hosts, hostvars, me):
    """Input rules for host `me`: Swarm's ports, open to the other nodes' addresses only.

    The shape is the firewall role's firewall_cluster_allowed: port (none for esp), proto, sources.
    """
    addresses = swarm_addresses(hosts, hostvars)
    roles = swarm_roles(hosts, hostvars)
    if me not in addresses:
        raise AnsibleFilterError(f"swarm: {me} is not a member of the swarm group")
    peers = sorted({a for h, a in addresses.items() if h != me})
    if not peers:
        return []
    ports = (_MANAGER_PORTS if roles[me] == "manager" else []) + _NODE_PORTS
    return [dict(rule, sources=peers) for rule in ports]


def swarm_cidr_clashes(networks, others):
    """Return the pairs "a overlaps b" between two lists of CIDRs or addresses (empty when clear)."""
    clashes = []
    for a in networks:
        for b in others:
            na = ipaddress.ip_network(str(a), strict=False)
            nb = ipaddress.ip_network(str(b), strict=False)
            if na.version == nb.version and na.overlaps(nb):
                clashes.append(f"{a} overlaps {b}")
    return clashes


class FilterModule:
    """Filters: swarm_addresses, swarm_roles, swarm_firewall_rules, swarm_cidr_clashes."""

    def filters(self):
        return {
            "swarm_addresses": swarm_addresses,
            "swarm_roles": swarm_roles,
            "swarm_firewall_rules": swarm_firewall_rules,
            "swarm_cidr_clashes": swarm_cidr_clashes,
        }
