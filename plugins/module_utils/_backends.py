# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which firewall backend a host uses, opened the same way by every module that reads or writes it."""

from __future__ import annotations

from ansible_collections.mailsec.mx.plugins.module_utils._iptables import IptablesBackend
from ansible_collections.mailsec.mx.plugins.module_utils._nftables import NftablesBackend

BACKENDS = {"nftables": NftablesBackend, "iptables": IptablesBackend}
TOOLS = {"nftables": ("nft",), "iptables": ("iptables", "ipset", "ip6tables")}
MISSING_TOOL = "the %s backend needs %s on the host; install it first (see bindep.txt)"


def open_backend(module, choice, name, missing_tool=MISSING_TOOL):
    """Return (backend name, backend) for ``choice`` (auto: nftables where nft exists, else iptables).

    Fails the module, naming the tool, when the backend's tools are not all on the host.
    """
    if choice == "auto":
        choice = "nftables" if module.get_bin_path("nft") else "iptables"
    for tool in TOOLS[choice]:
        if not module.get_bin_path(tool):
            module.fail_json(msg=missing_tool % (choice, tool))

    def run(args, data=None):
        return module.run_command(args, data=data, binary_data=True, environ_update={"LC_ALL": "C"})

    return choice, BACKENDS[choice](run, name)
