# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # The options every firewall module shares (module_utils/_firewall/spec.py COMMON_OPTIONS).
    DOCUMENTATION = r"""
options:
  state:
    description: V(present) guards the addresses; V(absent) removes everything the module added, persisted files too.
    type: str
    choices: [present, absent]
    default: present
  backend:
    description: V(auto) uses nftables where C(nft) exists, else iptables with ipset.
    type: str
    choices: [auto, nftables, iptables]
    default: auto
  ports:
    description: The TCP ports to guard (the iptables backend takes at most 15).
    type: list
    elements: int
    default: [25]
  allow:
    description:
      - Source addresses or CIDRs (IPv4 and IPv6) the firewall always lets through. C(0.0.0.0/0) and C(::/0) are
        refused.
    type: list
    elements: str
    default: []
  allow_files:
    description:
      - Plain-text files on the controller, one address or CIDR per line, C(#) starts a comment; added to O(allow).
      - Read by the action plugin on the controller, never through YAML or Jinja, so large lists stay fast.
    type: list
    elements: path
    default: []
  allow_min_prefix4:
    description:
      - The broadest IPv4 network O(allow) and O(allow_files) may hold, as a prefix length - also after merging. No real
        sender list needs a network broader than a /8; C(0.0.0.0/1) and friends are refused like C(0.0.0.0/0).
    type: int
    default: 8
  allow_min_prefix6:
    description: The broadest IPv6 network O(allow) and O(allow_files) may hold, as a prefix length - also after merging.
    type: int
    default: 16
  persist:
    description:
      - Keep the rules across reboots in the distribution's usual way. nftables - C(/etc/nftables.d/mailsec_<name>.nft)
        included from C(/etc/nftables.conf). iptables - our lines merged into C(/etc/iptables/rules.v4),
        C(rules.v6) and C(ipsets) of netfilter-persistent, other lines kept.
      - The boot service is enabled only where systemd runs.
    type: bool
    default: true
  interface:
    description:
      - Add any of the addresses the module brings up that no interface holds to this interface. What was added is
        recorded on the host (C(/var/lib/mailsec-mx/<name>.addresses.json)); O(state=absent) removes exactly those
        addresses, so an address the host held before (its own address, say) always stays.
      - Without it, a missing address is reported as a warning.
      - A Linux interface name - 1 to 15 letters, digits, underscores, dots, colons, at signs or dashes, starting with
        a letter, digit or underscore; anything else fails before the host is touched.
    type: str
  validate_only:
    description:
      - Only check every input on the controller (addresses, ports, action, allowlist and its files) and change
        nothing, not even contacting the host; for roles that check their inputs before installing anything.
    type: bool
    default: false
  merged_allow:
    description:
      - Set by the action plugin, not by hand - the merged allowlist (from O(allow) and O(allow_files)), one string of
        networks per family (keys V(ipv4) and V(ipv6)). One string crosses to the host far faster than a list of
        100,000 entries.
    type: dict
  ssh_address:
    description:
      - Set by the action plugin, not by hand - the address Ansible connects to over SSH, for the SSH guard when
        C(SSH_CONNECTION) is not in the environment (become with sudo drops it).
    type: str
  ssh_port:
    description: Set by the action plugin, not by hand - the SSH port, with O(ssh_address).
    type: int
notes:
  - Touches only a table (nftables) or chain and ipsets (iptables) of its own, named after O(name). Other tables,
    chains, rules and sets stay as they are; nothing is flushed.
  - The ruleset is checked (C(nft -c), C(iptables-restore --test)) and applied atomically. The allowlist is one set,
    so the number of rules does not grow with its size.
  - Every option is validated, and the allowlist read and merged, on the controller (an action plugin) before
    anything on the host is touched.
  - Refuses a ruleset that would catch the SSH connection Ansible runs over; when the SSH port in use is among O(ports)
    and the address Ansible connects to cannot be told (a name that does not resolve), it refuses too.
# With ansible.builtin.action_common_attributes and its .flow, which describe them.
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
requirements:
  - nftables, or iptables and ipset, on the managed host
  - netaddr on the controller
"""
