"""Runs the firewall backends inside a network namespace for the integration tests.

echo '{"backend": ..., "state": ..., "spec": {...}, "check": false, "name": "dead_primary"}' | ip netns exec NS python firewall_driver.py
prints {"changed", "diff", "counters", "hits"} as JSON (hits: what a trap remembers after the run).
Persistence stays off: /etc is the machine's own here.
"""

import json
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[4] / ".cache" / "collections"))

from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import merge_allowlist  # noqa: E402
from ansible_collections.mailsec.mx.plugins.module_utils._firewall import Spec, converge  # noqa: E402
from ansible_collections.mailsec.mx.plugins.module_utils._iptables import IptablesBackend  # noqa: E402
from ansible_collections.mailsec.mx.plugins.module_utils._nftables import NftablesBackend  # noqa: E402
from ansible_collections.mailsec.mx.plugins.module_utils._traps import hit_list  # noqa: E402


def run(args, data=None):
    result = subprocess.run(args, input=data, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr


def main():
    request = json.load(sys.stdin)
    name = request.get("name", "dead_primary")
    backend = {"nftables": NftablesBackend, "iptables": IptablesBackend}[request["backend"]](run, name)
    spec = None
    if request["state"] == "present":
        options = dict(request["spec"])
        ipv4, ipv6 = merge_allowlist(options.pop("allow", []))
        options.setdefault("ports", [25])
        options.setdefault("action", "reset")
        spec = Spec(name, allow=ipv4 + ipv6, **options)
    changed, diff, dummy = converge(backend, spec, request["state"], request.get("check", False), False)
    hits, sets = [], {}
    if backend.current() is not None and spec is not None and spec.kind == "trap":
        hits = hit_list(*backend.trap_entries()[:2], prefixes=backend.prefixes())
        sets = backend.set_fill()
    print(json.dumps({"changed": changed, "diff": diff, "counters": backend.counters(), "hits": hits, "sets": sets}))


if __name__ == "__main__":
    main()
