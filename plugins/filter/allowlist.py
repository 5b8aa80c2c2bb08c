# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dead primary's allowlist: its scopes combined, written once (dead_primary_allowlist).

The role (roles/dead_primary/vars/main.yml) and the harden_mx playbook, which hands the same allowlist to the
traps, both call it. Entries are passed on as they are: the firewall module validates them and names a bad one.
The documentation lives beside this file (dead_primary_allowlist.yml).
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# The scopes of the role's allowlist, combined in this order; the allow files are a list of their own.
ALLOW_SCOPES = ("dead_primary_allow", "dead_primary_group_allow", "dead_primary_host_allow", "dead_primary_dependent_allow")
ALLOW_FILES = "dead_primary_allow_files"


def _shown(value):
    return value if isinstance(value, str) and value.isprintable() else repr(value)


def _host_variables(variables):
    if isinstance(variables, Mapping):
        return [variables]
    if isinstance(variables, (str, bytes)) or not hasattr(variables, "__iter__"):
        raise TypeError("expects a host's variables (a mapping) or a list of them, not %s" % _shown(variables))
    hosts = list(variables)
    for host in hosts:
        if not isinstance(host, Mapping):
            raise TypeError("expects a list of hosts' variables (mappings), not one holding %s" % _shown(host))
    return hosts


def _scope(host, name):
    value = host.get(name, [])
    if not isinstance(value, (list, tuple)):
        where = " of host %s" % _shown(host["inventory_hostname"]) if "inventory_hostname" in host else ""
        raise TypeError("%s%s must be a list, not %s" % (name, where, _shown(value)))
    return value


def _once(entries):
    """``entries`` without repeats, the first of each kept."""
    seen, unhashable, kept = set(), [], []
    for entry in entries:
        try:
            if entry in seen:
                continue
            seen.add(entry)
        except TypeError:
            if entry in unhashable:
                continue
            unhashable.append(entry)
        kept.append(entry)
    return kept


def combine_allowlist(variables):
    """The allowlist of one dead primary host, or of several, from their variables.

    ``variables`` is a mapping of a host's variables or a list of them. Returns ``{"allow": [...], "allow_files":
    [...]}``: every entry of the ALLOW_SCOPES (scope by scope, host by host within a scope) and of ALLOW_FILES, each
    once. A missing variable counts as an empty list; one that is not a list raises TypeError naming it.
    """
    hosts = _host_variables(variables)
    return {
        "allow": _once(entry for name in ALLOW_SCOPES for host in hosts for entry in _scope(host, name)),
        "allow_files": _once(entry for host in hosts for entry in _scope(host, ALLOW_FILES)),
    }


def dead_primary_allowlist(variables):
    try:
        return combine_allowlist(variables)
    except TypeError as exc:
        raise AnsibleFilterError("mailsec.mx.dead_primary_allowlist: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {"dead_primary_allowlist": dead_primary_allowlist}
