#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: mx_firewall
short_description: Guard port 25 of MX addresses - a dead primary's reset, or trap addresses that record senders
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - With O(kind=dead), guards TCP port 25 (or other ports) of the given local addresses, such as a nolisting dead
    primary, so that every connection gets a TCP reset (or is dropped), except from allowlisted sources, whose packets
    pass on to whatever listens there.
  - With O(kind=trap), every connection to one of O(traps) passes on to the MTA; a source that completes a TCP
    handshake there without having tried O(addresses) (the host's own MX addresses) within O(order_window) is recorded
    in a timed set (per O(ipv4_prefix) / O(ipv6_prefix) network) for O(suppress_time) seconds after its last trap hit.
    A forged SYN records no one. With O(suppress), recorded sources get a TCP reset on O(addresses) and on the traps,
    except their first trap connection. Allowed and local sources are never recorded.
    M(mailsec.mx.mx_trap_hits) lists what the traps remember.
  - Touches only a table (nftables) or chain and ipsets (iptables) of its own, named after O(name). Other tables,
    chains, rules and sets stay as they are; nothing is flushed.
  - The ruleset is checked (C(nft -c), C(iptables-restore --test)) and applied atomically. The allowlist is one
    set, so the number of rules does not grow with its size.
  - Allowlist entries and O(allow_files) are read, validated and merged on the controller (an action plugin),
    before anything on the host is touched.
options:
  name:
    description:
      - Names what the module owns. nftables table C(inet mailsec_<name>), iptables chain C(MAILSEC_<NAME>),
        ipsets C(mailsec_<name>_a4) and C(mailsec_<name>_a6) (a trap adds C(_h4), C(_h6), C(_s4) and C(_s6)).
      - 1 to 16 characters of V(a-z), V(0-9) and V(_), starting with a letter.
    type: str
    required: true
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
  kind:
    description:
      - V(dead) - refuse every source not allowed on O(addresses), as a nolisting dead primary does.
      - V(trap) - record sources that connect to O(traps), and with O(suppress) refuse them on O(addresses).
    type: str
    choices: [dead, trap]
    default: dead
  addresses:
    description:
      - O(kind=dead) - the local IPv4/IPv6 addresses to guard. Required with O(state=present).
      - O(kind=trap) - the host's own MX addresses (of its primary and backstop records), where recorded sources are
        refused with O(suppress). Required with O(suppress). They must differ from O(traps).
    type: list
    elements: str
    default: []
  traps:
    description: O(kind=trap) - the trap addresses, on this host, that the highest MX records point at.
    type: list
    elements: str
    default: []
  suppress:
    description: O(kind=trap) - refuse recorded sources (with O(action)) on O(addresses) and on the traps.
    type: bool
    default: false
  suppress_time:
    description:
      - O(kind=trap) - seconds a source stays recorded (and, with O(suppress), refused) after its last trap hit.
        1 to 2147483 (ipset's limit).
      - First hits and hit counts are kept for a week, or O(suppress_time) if longer.
      - Suppression only ever learns from completed TCP handshakes, so a forged SYN records no one.
    type: int
    default: 3600
  order_window:
    description:
      - O(kind=trap) - seconds during which a source that tried one of O(addresses) counts as an MTA walking down the
        MX list - its trap connections are then not recorded. Only senders that go to a trap without having tried a
        lower MX on this host are recorded.
      - Tried means a completed handshake (a 4xx or a busy primary), or a mere SYN (the primary refused or dropped
        the connection while the traps answer). A forged SYN can only spare a source this way, never get one refused.
      - The default (a day) covers an MTA's walk within one delivery attempt and its retries, including Exim, which
        skips a failed host until its retry time (up to 6 hours with its stock retry rules) and goes straight on down.
    type: int
    default: 86400
  ipv4_prefix:
    description: O(kind=trap) - IPv4 sources are recorded and refused per network of this prefix length (8-32).
    type: int
    default: 32
  ipv6_prefix:
    description:
      - O(kind=trap) - IPv6 sources are recorded and refused per network of this prefix length (32-128); by default
        per /64, so a bot rotating inside its /64 stays caught and one /64 fills one element, not thousands.
    type: int
    default: 64
  set_size:
    description:
      - O(kind=trap) - room in each of the trap's timed sets (per family) - C(hits), C(seen) and C(tried) (16 to 16777216).
      - No set ever evicts an element. A full C(seen) set loses first hits and counts only. When C(hits) is full, a
        trap connection that cannot be recorded is counted as C(unrecorded) and, with O(suppress), refused. When
        C(tried) is full, recording pauses for O(order_window), since an MTA's walk could not be remembered.
        M(mailsec.mx.mx_trap_hits) reports each set's fill level and warns above 90 %.
    type: int
    default: 262144
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
  allow_controller:
    description:
      - O(kind=trap) - add the addresses this controller connects from (towards the host, the traps and
        O(addresses)) to O(allow), so that probing the traps from here (as M(mailsec.mx.mx_verify) does) never
        gets the controller recorded or refused. Worked out on the controller, without sending a packet.
    type: bool
    default: false
  ports:
    description: The TCP ports to guard (the iptables backend takes at most 15).
    type: list
    elements: int
    default: [25]
  action:
    description:
      - V(reset) answers with a TCP reset at once; V(drop) makes every legitimate sender wait for its timeout.
      - With O(kind=trap), what recorded sources get when O(suppress) is on.
    type: str
    choices: [reset, drop]
    default: reset
  allow:
    description:
      - Source addresses or CIDRs (IPv4 and IPv6) whose connections pass. C(0.0.0.0/0) and C(::/0) are refused.
      - With O(kind=trap), sources that are never recorded nor refused (the dead primary's allowlist, partners).
    type: list
    elements: str
    default: []
  allow_files:
    description:
      - Plain-text files on the controller, one address or CIDR per line, C(#) starts a comment.
      - Read by the action plugin on the controller, never through YAML or Jinja, so large lists stay fast.
    type: list
    elements: path
    default: []
  persist:
    description:
      - Keep the rules across reboots in the distribution's usual way. nftables - C(/etc/nftables.d/mailsec_<name>.nft)
        included from C(/etc/nftables.conf). iptables - our lines merged into C(/etc/iptables/rules.v4),
        C(rules.v6) and C(ipsets) of netfilter-persistent, other lines kept.
      - The boot service is enabled only where systemd runs.
    type: bool
    default: true
  validate_only:
    description:
      - Only check every input on the controller (addresses, ports, action, allowlist and its files) and change
        nothing, not even contacting the host; for roles that check their inputs before installing anything.
    type: bool
    default: false
  merged_allow:
    description:
      - Set by the action plugin, not by hand - the merged allowlist (from O(allow) and O(allow_files)), one network
        per line. A single string crosses to the host far faster than a list of 100,000 entries.
    type: str
    default: ""
  ssh_address:
    description:
      - Set by the action plugin, not by hand - the address Ansible connects to over SSH, for the SSH guard when
        C(SSH_CONNECTION) is not in the environment (become with sudo drops it).
    type: str
  ssh_port:
    description: Set by the action plugin, not by hand - the SSH port, with O(ssh_address).
    type: int
  interface:
    description:
      - Add any of O(addresses) (O(kind=trap) - O(traps)) that no interface holds to this interface. What was added is
        recorded on the host (C(/var/lib/mailsec-mx/<name>.addresses.json)); O(state=absent) removes exactly those
        addresses, so an address the host held before (its own address, say) always stays.
      - Without it, a missing address is reported as a warning, since connections to it time out like a drop.
    type: str
notes:
  - Replacing an nftables table keeps its counters; an iptables rule change resets the rule counters.
  - Refuses a ruleset that would catch the SSH connection Ansible runs over; when the SSH port in use is among O(ports)
    and the address Ansible connects to cannot be told (a name that does not resolve), it refuses too.
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
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

EXAMPLES = r"""
- name: Reset port 25 of the dead primary, except for two known senders
  mailsec.mx.mx_firewall:
    name: dead_primary
    addresses: [203.0.113.10, "2001:db8::10"]
    allow: [198.51.100.0/24, "2001:db8:5::/48"]
    allow_files: [files/provider-ranges.txt]

- name: Remove it again
  mailsec.mx.mx_firewall:
    name: dead_primary
    state: absent

- name: Record senders that go for the trap addresses, and refuse them on the primary for an hour
  mailsec.mx.mx_firewall:
    name: mx_trap
    kind: trap
    traps: [203.0.113.91, "2001:db8::91"]
    addresses: [203.0.113.20, "2001:db8::20"]
    suppress: true
    suppress_time: 3600
    allow: [198.51.100.0/24]
    allow_controller: true
    interface: eth0
"""

RETURN = r"""
backend:
  description: The backend used.
  returned: always
  type: str
  sample: nftables
allow_count:
  description: How many merged allowlist networks per family the ruleset holds.
  returned: always
  type: dict
  sample: {ipv4: 2, ipv6: 1}
counters:
  description:
    - O(kind=dead) - packets allowed through and refused (reset or dropped), as read before the change.
    - O(kind=trap) - trap hits and refused (suppressed) connections.
  returned: always
  type: dict
  sample: {allowed: 3, refused: 120}
controller_allowed:
  description: With O(allow_controller), the controller's addresses that were added to the allowlist.
  returned: when O(allow_controller) is true
  type: list
  elements: str
  sample: [198.51.100.1]
missing_addresses:
  description: Guarded addresses (dead addresses, or traps) that no interface held (before O(interface) added them).
  returned: always
  type: list
  elements: str
persisted:
  description: Boot-time files and services that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
"""

import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import (
    SPEC_OPTIONS,
    FirewallError,
    Spec,
    converge,
    ssh_guard,
    validate_name,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._backends import open_backend


# What the module added to interfaces, per firewall name: state=absent removes exactly that.
STATE_DIR = "/var/lib/mailsec-mx"


def _interfaces_of_addresses(module):
    """{address: interface name} for every address this host holds."""
    rc, out, err = module.run_command(["ip", "-j", "addr", "show"])
    if rc != 0:
        module.fail_json(msg="ip addr show failed: %s" % err.strip())
    return {info["local"]: link["ifname"] for link in json.loads(out) for info in link.get("addr_info", ())}


LIBERAL_TRACKING = "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal"


def _liberal_tracking_warning():
    """A warning when conntrack takes out-of-window TCP packets as valid: then a blind attacker can complete a handshake
    in conntrack's eyes (not the MTA's) with a forged SYN and a forged ACK, and have someone else recorded."""
    try:
        with open(LIBERAL_TRACKING, encoding="ascii") as handle:
            liberal = handle.read().strip() == "1"
    except OSError:
        return ""
    if not liberal:
        return ""
    return ("net.netfilter.nf_conntrack_tcp_be_liberal is 1 on this host: conntrack then accepts forged TCP packets "
            "outside the window, and forged packets could get a sender recorded by the traps. Set it to 0 (the default).")


def _record_path(name):
    return os.path.join(STATE_DIR, "%s.addresses.json" % name)


def _read_record(name):
    """{address: interface} of the addresses this module added to interfaces for firewall ``name``."""
    try:
        with open(_record_path(name), encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return {}
    return {str(address): str(interface) for address, interface in record.get("added", {}).items()}


def _write_record(module, name, added):
    if module.check_mode:
        return
    if not added:
        if os.path.exists(_record_path(name)):
            os.unlink(_record_path(name))
        return
    os.makedirs(STATE_DIR, mode=0o755, exist_ok=True)
    write_file(_record_path(name), json.dumps({"added": added}, indent=1, sort_keys=True) + "\n", False)


def _add_missing_addresses(module, spec, interface):
    """Return (addresses no interface held, whether the interface was changed)."""
    held = _interfaces_of_addresses(module)
    missing = [address for address in spec.interface_addresses if address not in held]
    if missing and interface:
        added = _read_record(spec.name)
        for address in missing:
            _ip_addr(module, "add", address, interface)
            added[address] = interface
        # Kept on the host so that state=absent removes what was added here, and nothing else.
        _write_record(module, spec.name, added)
    else:
        for address in missing:
            module.warn(
                "%s is on no interface of this host: connections to it time out instead of %s. Set the interface "
                "option (dead_primary_interface, mx_trap_interface) to add it."
                % (address, "being reset" if spec.kind == "dead" else "reaching the MTA")
            )
    for address in spec.guarded():
        if address not in held and address not in spec.interface_addresses:
            module.warn("%s is one of this host's MX addresses, yet no interface holds it: refusing recorded senders "
                        "there has no effect" % address)
    return missing, bool(missing and interface)


def _remove_addresses(module, name):
    """Remove the addresses this module added (as its record on the host says) that are still there; return whether any was.

    An address the host held before (its own /24 address, say) was never added here, so it stays.
    """
    added = _read_record(name)
    held = _interfaces_of_addresses(module)
    removed = [address for address, interface in sorted(added.items()) if held.get(address) == interface]
    for address in removed:
        _ip_addr(module, "del", address, added[address])
    _write_record(module, name, {})
    return bool(removed)


def _ip_addr(module, verb, address, interface):
    if module.check_mode:
        return
    prefix = "/128" if ":" in address else "/32"
    command = ["ip", "addr", verb, address + prefix, "dev", interface]
    if verb == "add" and ":" in address:
        command.append("nodad")
    rc, dummy, err = module.run_command(command)
    if rc != 0:
        module.fail_json(msg="ip addr %s %s dev %s failed: %s" % (verb, address, interface, err.strip()))


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            backend=dict(type="str", choices=["auto", "nftables", "iptables"], default="auto"),
            addresses=dict(type="list", elements="str", default=[]),
            ports=dict(type="list", elements="int", default=[25]),
            action=dict(type="str", choices=["reset", "drop"], default="reset"),
            kind=dict(type="str", choices=["dead", "trap"], default="dead"),
            traps=dict(type="list", elements="str", default=[]),
            suppress=dict(type="bool", default=False),
            suppress_time=dict(type="int", default=3600),
            order_window=dict(type="int", default=86400),
            ipv4_prefix=dict(type="int", default=32),
            ipv6_prefix=dict(type="int", default=64),
            set_size=dict(type="int", default=262144),
            allow_min_prefix4=dict(type="int", default=8),
            allow_min_prefix6=dict(type="int", default=16),
            allow_controller=dict(type="bool", default=False),
            allow=dict(type="list", elements="str", default=[]),
            allow_files=dict(type="list", elements="path", default=[]),
            persist=dict(type="bool", default=True),
            interface=dict(type="str"),
            validate_only=dict(type="bool", default=False),
            merged_allow=dict(type="str", default=""),
            ssh_address=dict(type="str"),
            ssh_port=dict(type="int"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if params["allow_files"]:
        module.fail_json(msg="allow_files are read on the controller by the mailsec.mx.mx_firewall action plugin")
    state = params["state"]
    try:
        validate_name(params["name"])
        spec = None
        if state == "present" or params["addresses"] or params["traps"]:
            allow = params["merged_allow"].split() if params["merged_allow"] else params["allow"]
            spec = Spec(params["name"], params["addresses"], params["ports"], params["action"], allow,
                        **{option: params[option] for option in SPEC_OPTIONS})
            if state == "present":
                ssh_guard(spec, fallback=(params["ssh_address"], params["ssh_port"]))
    except ValueError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    backend_name, backend = open_backend(module, params["backend"], params["name"])
    interface = params["interface"]
    missing, interface_changed = [], False
    try:
        if state == "present":
            backend.check(spec, params["persist"])
        changed, diff, persisted = converge(backend, spec, state, module.check_mode, params["persist"])
        # An address comes up only once the firewall guards it, and goes only once that firewall is gone.
        if state == "present":
            missing, interface_changed = _add_missing_addresses(module, spec, interface)
        else:
            interface_changed = _remove_addresses(module, params["name"])
    except FirewallError as exc:
        module.fail_json(msg=str(exc), backend=backend_name)
    for warning in backend.warnings + ([_liberal_tracking_warning()] if spec is not None and spec.kind == "trap" else []):
        if warning:
            module.warn(warning)
    module.exit_json(
        changed=changed or interface_changed,
        diff=diff,
        backend=backend_name,
        allow_count={"ipv4": len(spec.allow4), "ipv6": len(spec.allow6)} if spec and state == "present" else {"ipv4": 0, "ipv6": 0},
        counters=backend.counters(),
        missing_addresses=missing,
        persisted=persisted,
    )


if __name__ == "__main__":
    main()
