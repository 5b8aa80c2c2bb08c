# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of every firewall module: validate all options, read and merge the allowlist.

Allow files live on the controller and may hold 100,000s of entries; they are
read here as plain text (never through YAML or Jinja) and merged with netaddr,
so the host receives one short, checked list per family and nothing is touched
when an entry is bad.  Options are validated against the module's own argument
spec (module_utils/_firewall), so no default is written twice.
"""

from __future__ import annotations

import ipaddress
import socket

from ansible.errors import AnsibleError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import AllowlistError, merge_allowlist
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import FirewallError, validate_interface, validate_name
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.host import BACKENDS


class FirewallAction(ActionBase):
    """The action plugin of a firewall module; subclasses name its spec class (``kind``)."""

    TRANSFERS_FILES = False
    kind = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        module_args = dict(self._task.args)
        allow = module_args.get("allow") or []
        files = module_args.pop("allow_files", None) or []
        if not isinstance(allow, list) or not isinstance(files, list):
            result.update(failed=True, msg="allow and allow_files must be lists")
            return result
        validation = ArgumentSpecValidator(self.kind.argument_spec()).validate(module_args)
        if validation.error_messages:
            return self._failed(result, "; ".join(validation.error_messages))
        params = validation.validated_parameters
        try:
            paths = [self._find_needle("files", str(path)) for path in files]
        except AnsibleError as exc:
            result.update(failed=True, msg="allow_files: %s" % exc)
            return result
        controller = []
        # Worked out here and added to the allowlist: the module itself never sees the option.
        module_args.pop("allow_controller", None)
        if params.get("allow_controller"):
            targets = [self._play_context.remote_addr] + [address for option in self.kind.address_options for address in params[option]]
            controller = controller_addresses(targets)
            allow = list(allow) + controller
        try:
            ipv4, ipv6 = merge_allowlist(allow, paths, min_prefix4=params["allow_min_prefix4"], min_prefix6=params["allow_min_prefix6"])
        except AllowlistError as exc:
            return self._failed(result, str(exc))
        merged = {"ipv4": "\n".join(ipv4), "ipv6": "\n".join(ipv6)}
        module_args.pop("validate_only", None)
        if params["validate_only"]:
            return self._validate(result, params, merged, {"ipv4": len(ipv4), "ipv6": len(ipv6)})
        if self._connection.transport in ("ssh", "paramiko", "paramiko_ssh"):
            module_args["ssh_address"] = self._play_context.remote_addr
            module_args["ssh_port"] = self._play_context.port or 22
        module_args["allow"] = []
        module_args["merged_allow"] = merged
        result.update(self._execute_module(module_name=self.kind.module, module_args=module_args, task_vars=task_vars))
        if controller:
            result["controller_allowed"] = controller
        return result

    def _failed(self, result, message):
        result.update(failed=True, msg="%s: %s; nothing was changed" % (self.kind.module, message))
        return result

    def _validate(self, result, params, merged, count):
        """Check every input on the controller alone, so a role can do it before it installs anything."""
        try:
            if params["backend"] in BACKENDS:
                BACKENDS[params["backend"]].check_ports(params["ports"])
            validate_interface(params["interface"])
            if params["state"] == "present":
                self.kind.from_params(dict(params, allow=[], merged_allow=merged))
            else:
                validate_name(params["name"])
        except (FirewallError, ValueError) as exc:
            return self._failed(result, str(exc))
        result.update(changed=False, msg="inputs are valid", allow_count=count)
        return result


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
