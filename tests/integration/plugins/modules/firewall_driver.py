"""Runs the firewall backends inside a network namespace for the integration tests.

echo '{"backend": ..., "state": ..., "spec": {...}, "check": false}' | ip netns exec NS python firewall_driver.py
prints {"changed", "diff", "counters"} as JSON. Persistence stays off: /etc is the machine's own here.
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


def run(args, data=None):
    result = subprocess.run(args, input=data, capture_output=True, text=True, check=False)
    return result.returncode, result.stdout, result.stderr


def main():
    request = json.load(sys.stdin)
    backend = {"nftables": NftablesBackend, "iptables": IptablesBackend}[request["backend"]](run, "dead_primary")
    spec = None
    if request["state"] == "present":
        options = request["spec"]
        ipv4, ipv6 = merge_allowlist(options.get("allow", []))
        spec = Spec("dead_primary", options["addresses"], options.get("ports", [25]), options.get("action", "reset"), ipv4 + ipv6)
    changed, diff, dummy = converge(backend, spec, request["state"], request.get("check", False), False)
    print(json.dumps({"changed": changed, "diff": diff, "counters": backend.counters()}))


if __name__ == "__main__":
    main()
