# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a firewall module does on the host, for every kind: open the backend, converge, bring addresses up."""

from __future__ import annotations

import json
import os
import selectors

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import (
    FirewallError,
    converge,
    ssh_guard,
    validate_interface,
    validate_name,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.iptables import IptablesBackend
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.nftables import NftablesBackend

BACKENDS = {backend.name: backend for backend in (NftablesBackend, IptablesBackend)}
MISSING_TOOL = "the %s backend needs %s on the host; install it first (see bindep.txt)"


def open_backend(module, choice, name, kind, missing_tool=MISSING_TOOL):
    """Return (backend name, backend) for ``choice`` (auto: nftables where nft exists, else iptables).

    Fails the module, naming the tool, when the backend's tools are not all on the host.
    """
    if choice == "auto":
        choice = "nftables" if module.get_bin_path("nft") else "iptables"
    for tool in BACKENDS[choice].tools:
        if not module.get_bin_path(tool):
            module.fail_json(msg=missing_tool % (choice, tool))

    def run(args, data=None):
        if data is not None:
            # Commands fed on stdin (restores, loads) answer in a few lines.
            return module.run_command(args, data=data, binary_data=True, environ_update={"LC_ALL": "C"})
        captured = ([], [])
        rc, out, err = module.run_command(args, binary_data=True, environ_update={"LC_ALL": "C"},
                                          before_communicate_callback=lambda process: _read_output(process, captured))
        if captured[0] or captured[1]:
            out, err = (to_text(b"".join(chunks), errors="surrogate_or_strict") for chunks in captured)
        return rc, out, err

    return choice, BACKENDS[choice](run, name, kind)


def _read_output(process, captured):
    """Read a command's whole output (both pipes, as they come) into ``captured``'s two lists of chunks.

    AnsibleModule.run_command appends each 32 KiB it reads to one bytes object, copying the output over and over: a
    25 MB nft listing (100,000 remembered sources in four sets) cost several seconds.  Given as its
    before_communicate_callback, this reads everything first and leaves both pipes at their end, so run_command only
    finds the end of each and returns the exit code.
    """
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, captured[0])
        selector.register(process.stderr, selectors.EVENT_READ, captured[1])
        while selector.get_map():
            for key, dummy in selector.select():
                chunk = os.read(key.fileobj.fileno(), 1 << 20)
                if chunk:
                    key.data.append(chunk)
                else:
                    selector.unregister(key.fileobj)


# What the module added to interfaces, per firewall name: state=absent removes exactly that.
STATE_DIR = "/var/lib/mailsec-mx"


def _interfaces_of_addresses(module):
    """{address: interface name} for every address this host holds."""
    rc, out, err = module.run_command(["ip", "-j", "addr", "show"])
    if rc != 0:
        module.fail_json(msg="ip addr show failed: %s" % err.strip())
    return {info["local"]: link["ifname"] for link in json.loads(out) for info in link.get("addr_info", ())}


LIBERAL_TRACKING = "/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal"


def _liberal_tracking_warning(title):
    """A warning when conntrack takes out-of-window TCP packets as valid: then a blind attacker can complete a handshake
    in conntrack's eyes (not the MTA's) with a forged SYN and a forged ACK, and have someone else recorded by the
    firewall of kind ``title``."""
    try:
        with open(LIBERAL_TRACKING, encoding="ascii") as handle:
            liberal = handle.read().strip() == "1"
    except OSError:
        return ""
    if not liberal:
        return ""
    return ("net.netfilter.nf_conntrack_tcp_be_liberal is 1 on this host: conntrack then accepts forged TCP packets "
            "outside the window, and forged packets could get a sender recorded by the %s firewall. Set it to 0 (the default)."
            % title)


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
                "option (dead_primary_interface, mx_trap_interface) to add it." % (address, spec.missing_address_effect)
            )
    if spec.addresses_span_hosts:
        # Other hosts hold the rest: only a host that holds none of them is worth a word.
        if not any(address in held for address in spec.guarded()):
            module.warn("no interface of this host holds any of %s: the %s firewall records nothing here"
                        % (", ".join(spec.guarded()), spec.title))
    else:
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


def run_module(kind):
    """The whole module for firewalls of spec class ``kind``."""
    module = AnsibleModule(argument_spec=kind.argument_spec(), supports_check_mode=True)
    params = module.params
    if params["allow_files"]:
        module.fail_json(msg="allow_files are read on the controller by the %s action plugin" % kind.module)
    state = params["state"]
    try:
        validate_interface(params["interface"])
        if state == "present":
            spec = kind.from_params(params)
            ssh_guard(spec, fallback=(params["ssh_address"], params["ssh_port"]))
        else:
            validate_name(params["name"])
            spec = None
    except ValueError as exc:
        module.fail_json(msg="%s; nothing was changed" % exc)
    backend_name, backend = open_backend(module, params["backend"], params["name"], kind)
    missing, interface_changed = [], False
    try:
        if spec is not None:
            backend.check(spec, params["persist"])
        live = backend.current()
        changed, diff, persisted = converge(backend, spec, state, module.check_mode, params["persist"], live=live)
        # An address comes up only once the firewall guards it, and goes only once that firewall is gone.
        if spec is not None:
            missing, interface_changed = _add_missing_addresses(module, spec, params["interface"])
        else:
            interface_changed = _remove_addresses(module, params["name"])
    except FirewallError as exc:
        module.fail_json(msg=str(exc), backend=backend_name)
    for warning in backend.warnings + ([_liberal_tracking_warning(kind.title)] if kind.trusts_conntrack else []):
        if warning:
            module.warn(warning)
    module.exit_json(
        changed=changed or interface_changed,
        diff=diff,
        backend=backend_name,
        allow_count={"ipv4": len(spec.allow4), "ipv6": len(spec.allow6)} if spec is not None else {"ipv4": 0, "ipv6": 0},
        counters=live.packets() if live is not None else {},
        missing_addresses=missing,
        persisted=persisted,
    )
