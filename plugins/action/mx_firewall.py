# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of mailsec.mx.mx_firewall: read, validate and merge the allowlist.

Allow files live on the controller and may hold 100,000s of entries; they are
read here as plain text (never through YAML or Jinja) and merged with netaddr,
so the host receives one short, checked list and nothing is touched when an
entry is bad.
"""

from __future__ import annotations

import ipaddress
import socket

from ansible.errors import AnsibleError
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import AllowlistError, merge_allowlist
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import SPEC_OPTIONS, Spec, validate_name
from ansible_collections.mailsec.mx.plugins.module_utils._iptables import MULTIPORT_LIMIT


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        module_args = dict(self._task.args)
        allow = module_args.get("allow") or []
        files = module_args.pop("allow_files", None) or []
        if not isinstance(allow, list) or not isinstance(files, list):
            result.update(failed=True, msg="allow and allow_files must be lists")
            return result
        try:
            paths = [self._find_needle("files", str(path)) for path in files]
        except AnsibleError as exc:
            result.update(failed=True, msg="allow_files: %s" % exc)
            return result
        controller = []
        if boolean(module_args.pop("allow_controller", False), strict=False):
            targets = [self._play_context.remote_addr] + list(module_args.get("traps") or []) + list(module_args.get("addresses") or [])
            controller = controller_addresses(targets)
            allow = list(allow) + controller
        try:
            ipv4, ipv6 = merge_allowlist(allow, paths, min_prefix4=_as_int(module_args.get("allow_min_prefix4", 8)),
                                         min_prefix6=_as_int(module_args.get("allow_min_prefix6", 16)))
        except AllowlistError as exc:
            result.update(failed=True, msg="mailsec.mx.mx_firewall: %s; nothing was changed" % exc)
            return result
        if boolean(module_args.pop("validate_only", False), strict=False):
            return self._validate(result, module_args, ipv4, ipv6)
        if self._connection.transport in ("ssh", "paramiko", "paramiko_ssh"):
            module_args["ssh_address"] = self._play_context.remote_addr
            module_args["ssh_port"] = self._play_context.port or 22
        # One string, not a list of 100,000: Ansible then moves and checks one value each way.
        module_args["allow"] = []
        module_args["merged_allow"] = "\n".join(ipv4 + ipv6)
        result.update(self._execute_module(module_name="mailsec.mx.mx_firewall", module_args=module_args, task_vars=task_vars))
        if controller:
            result["controller_allowed"] = controller
        return result

    @staticmethod
    def _validate(result, module_args, ipv4, ipv6):
        """Check every input on the controller alone, so a role can do it before it installs anything."""
        try:
            validate_name(module_args.get("name"))
            ports = [_as_int(port) for port in module_args.get("ports", [25])]
            if module_args.get("backend") == "iptables" and len(ports) > MULTIPORT_LIMIT:
                raise ValueError("the iptables backend takes at most %d ports (multiport); use nftables" % MULTIPORT_LIMIT)
            if module_args.get("state", "present") == "present":
                # Options left out take the Spec's defaults, which are the module's.
                options = {option: _as_int(module_args[option]) for option in SPEC_OPTIONS if module_args.get(option) is not None}
                if "suppress" in options:
                    options["suppress"] = boolean(options["suppress"], strict=False)
                Spec(module_args.get("name"), module_args.get("addresses") or [], ports, module_args.get("action", "reset"),
                     ipv4 + ipv6, **options)
        except (TypeError, ValueError) as exc:
            result.update(failed=True, msg="mailsec.mx.mx_firewall: %s; nothing was changed" % exc)
            return result
        result.update(changed=False, msg="inputs are valid", allow_count={"ipv4": len(ipv4), "ipv6": len(ipv6)})
        return result


def _as_int(value):
    """Integers as the module's argument spec would convert them ('25' -> 25)."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def controller_addresses(targets):
    """The addresses this controller would send from towards each target, loopback left out.

    Connecting a UDP socket only picks a route and a source address: no packet is sent.
    """
    found = []
    for target in targets:
        if not target:
            continue
        try:
            infos = socket.getaddrinfo(str(target), 25, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError):
            continue
        for family, kind, protocol, dummy, address in infos[:1]:
            with socket.socket(family, kind, protocol) as probe:
                try:
                    probe.connect(address)
                except OSError:
                    continue
                source = probe.getsockname()[0].split("%")[0]
            if not ipaddress.ip_address(source).is_loopback and source not in found:
                found.append(source)
    return found
