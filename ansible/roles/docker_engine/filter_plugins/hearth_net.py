"""Network helpers for the docker_engine role (no netaddr needed: stdlib ipaddress)."""

import ipaddress


def cidr_overlaps(networks, others):
    """Return the pairs "a overlaps b" between two lists of CIDRs (empty when clear)."""
    clashes = []
    for a in networks:
        for b in others:
            na = ipaddress.ip_network(str(a), strict=False)
            nb = ipaddress.ip_network(str(b), strict=False)
            if na.version == nb.version and na.overlaps(nb):
                clashes.append(f"{a} overlaps {b}")
    return clashes


class FilterModule:
    """Filters: cidr_overlaps."""

    def filters(self):
        return {"cidr_overlaps": cidr_overlaps}
