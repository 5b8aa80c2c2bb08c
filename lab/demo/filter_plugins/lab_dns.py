"""Reverse DNS names for the lab's name server (lab/demo/prepare.yml): the lab's hosts get forward-confirmed PTRs,
so the nolisting audit can name its senders, as it would name real ones."""

import ipaddress


def reverse_pointer(address):
    """'198.51.100.40' -> '40.100.51.198.in-addr.arpa.'"""
    return ipaddress.ip_address(address).reverse_pointer + "."


def reverse_zone(interface):
    """The reverse zone of a network: '198.51.100.53/24' -> '100.51.198.in-addr.arpa.', a /64 -> its 16 nibbles."""
    network = ipaddress.ip_interface(interface).network
    labels = network.network_address.reverse_pointer.split(".")
    unit = 8 if network.version == 4 else 4
    keep = network.prefixlen // unit
    suffix = 2  # in-addr.arpa / ip6.arpa
    return ".".join(labels[len(labels) - suffix - keep:]) + "."


class FilterModule:
    def filters(self):
        return {"reverse_pointer": reverse_pointer, "reverse_zone": reverse_zone}
