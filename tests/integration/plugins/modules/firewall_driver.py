"""Runs a firewall module's main() inside a network namespace for the integration tests, as Ansible would.

echo '{"backend": ..., "state": ..., "spec": {...}, "check": false, "name": "dead_primary"}' | ip netns exec NS python firewall_driver.py
prints the module's result {"changed", "diff", "counters", ...} as JSON, plus what the firewall remembers after the
run: for a trap "hits" and "sets" (read by mailsec.mx.mx_trap_hits), for the dead primary and the live MX kind "read"
(the whole result of mailsec.mx.nolisting_sources) and "read_table" (the same with format: table).  ``spec`` holds
the module's options; ``"kind"`` picks the module: "trap" (mx_trap_firewall, its own MX addresses given as
``addresses``), "live" (mx_live_firewall), else dead_primary_firewall.  What the action plugin does on the controller
(merging the allowlist) is done here.  Persistence stays off: /etc is the machine's own here.
"""

import contextlib
import io
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[4] / ".cache" / "collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402

from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import merge_allowlist  # noqa: E402
from ansible_collections.mailsec.mx.plugins.modules import (  # noqa: E402
    dead_primary_firewall,
    mx_live_firewall,
    mx_trap_firewall,
    mx_trap_hits,
    nolisting_sources,
)

# {kind in the request: (firewall module, the kind nolisting_sources reads, or None)}
KINDS = {"trap": (mx_trap_firewall, None), "live": (mx_live_firewall, "mx_live"), "dead": (dead_primary_firewall, "dead_primary")}


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
    kind = options.pop("kind", "dead")
    firewall, sources_kind = KINDS[kind]
    if kind == "trap" and "addresses" in options:
        options["mx_addresses"] = options.pop("addresses")
    ipv4, ipv6 = merge_allowlist(options.pop("allow", []))
    args = dict(options, name=request.get("name", "dead_primary"), backend=request["backend"], state=request["state"],
                persist=False, merged_allow={"ipv4": "\n".join(ipv4), "ipv6": "\n".join(ipv6)},
                _ansible_check_mode=request.get("check", False))
    result = run_main(firewall, args)
    if result.get("failed"):
        if request.get("may_fail"):
            print(json.dumps(result))
            return
        raise SystemExit("module failed: %s" % result.get("msg"))
    hits, sets = [], {}
    if kind == "trap" and request["state"] == "present":
        remembered = run_main(mx_trap_hits, {"name": args["name"], "backend": request["backend"]})
        hits = remembered["hits"]
        # As the kernel counted them after the run (the firewall module reports them as read before it).
        result["counters"] = remembered["counters"]
        sets = {level["set"]: (level["elements"], level["size"]) for level in remembered["sets"]}
    if sources_kind is not None:
        # Read as the audit reads it, in check mode as Ansible would run it there.
        read = {"kind": sources_kind, "name": args["name"], "backend": request["backend"], "_ansible_check_mode": request.get("check", False)}
        result["read"] = run_main(nolisting_sources, read)
        # The same as one text (format: table), as the audit reads it at scale.
        result["read_table"] = run_main(nolisting_sources, dict(read, format="table"))
    result.update(hits=hits, sets=sets)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
