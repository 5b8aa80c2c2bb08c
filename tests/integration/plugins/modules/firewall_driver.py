"""Runs a firewall module's main() inside a network namespace for the integration tests, as Ansible would.

echo '{"backend": ..., "state": ..., "spec": {...}, "check": false, "name": "dead_primary"}' | ip netns exec NS python firewall_driver.py
prints the module's result {"changed", "diff", "counters", ...} plus "hits" and "sets" (what a trap remembers after
the run, read by mailsec.mx.mx_trap_hits) as JSON.  ``spec`` holds the module's options; ``"kind": "trap"`` picks
mx_trap_firewall (its own MX addresses given as ``addresses``), else dead_primary_firewall.  What the action plugin
does on the controller (merging the allowlist) is done here.  Persistence stays off: /etc is the machine's own here.
"""

import contextlib
import io
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[4] / ".cache" / "collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import merge_allowlist  # noqa: E402
from ansible_collections.mailsec.mx.plugins.modules import dead_primary_firewall, mx_trap_firewall, mx_trap_hits  # noqa: E402


def run_main(module, args):
    """The JSON ``module.main()`` exits with."""
    out = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(out):
        try:
            module.main()
        except SystemExit:
            pass
    return json.loads(out.getvalue())


def main():
    request = json.load(sys.stdin)
    options = dict(request.get("spec") or {})
    trap = options.pop("kind", "dead") == "trap"
    if trap and "addresses" in options:
        options["mx_addresses"] = options.pop("addresses")
    ipv4, ipv6 = merge_allowlist(options.pop("allow", []))
    args = dict(options, name=request.get("name", "dead_primary"), backend=request["backend"], state=request["state"],
                persist=False, merged_allow={"ipv4": "\n".join(ipv4), "ipv6": "\n".join(ipv6)},
                _ansible_check_mode=request.get("check", False))
    result = run_main(mx_trap_firewall if trap else dead_primary_firewall, args)
    if result.get("failed"):
        raise SystemExit("module failed: %s" % result.get("msg"))
    hits, sets = [], {}
    if trap and request["state"] == "present":
        remembered = run_main(mx_trap_hits, {"name": args["name"], "backend": request["backend"]})
        hits = remembered["hits"]
        # As the kernel counted them after the run (the firewall module reports them as read before it).
        result["counters"] = remembered["counters"]
        sets = {level["set"]: (level["elements"], level["size"]) for level in remembered["sets"]}
    result.update(hits=hits, sets=sets)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
