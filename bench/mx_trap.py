"""Benchmark: the trap firewall (mx_trap_firewall) at scale, both backends, in one run (root).

1. Converge and no-op rerun with 100,000 allowlist entries (harden-mx.yml feeds the dead primary's whole
   allowlist to the traps, so the trap must stay as fast as the dead primary with it).
2. How soon a trap hit counts: 200 senders, each connects to the trap and right after to the primary;
   the time from the trap connection until the primary refuses it (median and slowest).
3. Reading what the trap remembers (what mx_trap_hits does) with 200 and 20,000 recorded senders.

There is no tool to compare with for 2 and 3 (the issue: only single-address greytrapping daemons
exist); for 1, bench/dead_primary.py compares the same allowlist sizes with a loop of
ansible.builtin.iptables.

Usage: make bench   (or: .venv/bin/python -m bench.mx_trap, from the repository root)
"""

import ipaddress
import json
import pathlib
import sys
import tempfile
import time

from lab import netns

ROOT = pathlib.Path(__file__).resolve().parents[1]

PRIMARY, TRAP = "198.51.100.20", "198.51.100.91"
# 200 senders in 198.51.100.0/24 around the primary (.20) and the trap (.91): 203.0.113.0/24 never goes on an interface.
BOTS = [str(ipaddress.ip_address("198.51.100.0") + n) for n in list(range(21, 91)) + list(range(92, 122)) + list(range(129, 229))]
BACKENDS = ("nftables", "iptables")
DRIVER = r"""
import json, subprocess, sys, time
sys.path.insert(0, %(collections)r)
from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import merge_allowlist
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import converge
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.host import BACKENDS
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.trap import TrapSpec
from ansible_collections.mailsec.mx.plugins.module_utils._traps import hit_list
def run(args, data=None):
    r = subprocess.run(args, input=data, capture_output=True, text=True, check=False)
    return r.returncode, r.stdout, r.stderr
request = json.load(sys.stdin)
backend = BACKENDS[request["backend"]](run, "mx_trap", TrapSpec)
started = time.monotonic()
if request["what"] == "converge":
    allow = open(request["allow_file"]).read().split()
    ipv4, ipv6 = merge_allowlist(allow)
    spec = TrapSpec("mx_trap", [request["trap"]], [request["primary"]], [25], "reset", ipv4 + ipv6,
                    suppress=True, suppress_time=3600)
    changed = converge(backend, spec, "present", False, False)[0]
    print(json.dumps({"changed": changed, "seconds": time.monotonic() - started}))
else:
    hits, seen, suppressing = TrapSpec.remembered(backend.current())
    listed = hit_list(hits, seen)
    print(json.dumps({"count": len(listed), "seconds": time.monotonic() - started}))
"""


def sh(namespace, command, data=None):
    result = namespace.run(["sh", "-ec", command], input=data)
    if result.returncode != 0:
        raise RuntimeError("%s: %s" % (command[:80], result.stderr))
    return result.stdout


class Pair(netns.Pair):
    """Two namespaces on one veth (eth0 on both sides): 'host' (primary, trap, a port 25 listener) and 'net' (the bots)."""

    def __init__(self):
        super().__init__("bt")

    def set_up(self):
        self.host.add_addresses([PRIMARY + "/24", TRAP + "/24"], "eth0")
        sh(self.net, "ip route add 198.51.100.0/24 dev eth0")
        self.net.add_addresses([bot + "/32" for bot in BOTS], "eth0")
        sh(self.host, "python3 -c 'import socket,os\ns=socket.socket();s.bind((\"0.0.0.0\",25));s.listen(512)\n"
                      "os.fork() and os._exit(0)\nwhile True: s.accept()[0].close()' >/dev/null 2>&1 &")
        time.sleep(0.5)

    def driver(self, request):
        code = DRIVER % {"collections": str(ROOT / ".cache" / "collections")}
        result = self.host.run([sys.executable, "-c", code], input=json.dumps(request), check=True)
        return json.loads(result.stdout)


BOT_RUN = r"""
import socket, sys, time
trap, primary = sys.argv[1], sys.argv[2]
delays, outcomes = [], []
for source in sys.argv[3:]:
    def connect(address):
        s = socket.socket(); s.settimeout(2); s.bind((source, 0))
        try:
            s.connect((address, 25)); return "connected"
        except ConnectionRefusedError:
            return "refused"
        finally:
            s.close()
    first = connect(trap)
    hit = time.monotonic()
    second = connect(primary)
    delays.append(time.monotonic() - hit)
    outcomes.append((first, second))
print(sum(1 for o in outcomes if o == ("connected", "refused")), max(delays), sorted(delays)[len(delays) // 2])
"""


def allow_file(work, count):
    path = work / ("allow-%d.txt" % count)
    start = ipaddress.ip_address("10.0.0.0")
    # Every other address, so nothing merges away.
    path.write_text("".join("%s\n" % (start + 2 * n) for n in range(count)))
    return path


def fill(pair, backend, count):
    """Record ``count`` made-up senders directly in the timed sets (as if each had hit the trap)."""
    sources = [str(ipaddress.ip_address("100.64.0.0") + n) for n in range(count)]
    if backend == "nftables":
        script = "".join("add element inet mailsec_mx_trap hits4 { %s timeout 1h }\n"
                         "add element inet mailsec_mx_trap seen4 { %s counter packets 1 bytes 60 timeout 7d }\n"
                         % (source, source) for source in sources)
        sh(pair.host, "nft -f -", data=script)
    else:
        script = "".join("add mailsec_mx_trap_h4 %s\nadd mailsec_mx_trap_s4 %s packets 1 bytes 60\n" % (source, source)
                         for source in sources)
        sh(pair.host, "ipset restore -exist", data=script)


def main():
    with tempfile.TemporaryDirectory(prefix="mailsec-bench-") as work:
        work = pathlib.Path(work)
        exempt = allow_file(work, 100000)
        for backend in BACKENDS:
            pair = Pair()
            try:
                first = pair.driver({"what": "converge", "backend": backend, "allow_file": str(exempt), "primary": PRIMARY, "trap": TRAP})
                again = pair.driver({"what": "converge", "backend": backend, "allow_file": str(exempt), "primary": PRIMARY, "trap": TRAP})
                assert first["changed"] and not again["changed"]
                print("%-9s 100,000 allowlist entries: converge %.2f s, no-op rerun %.2f s" % (backend, first["seconds"], again["seconds"]))
                out = sh(pair.net, "%s -c '%s' %s %s %s" % (sys.executable, BOT_RUN.replace("'", "'\\''"), TRAP, PRIMARY, " ".join(BOTS)))
                caught, slowest, median = out.split()
                print("%-9s %s/%d senders: trap connection passed, then refused on the primary;"
                      " trap hit -> refusal median %.2f ms, slowest %.2f ms"
                      % (backend, caught, len(BOTS), float(median) * 1000, float(slowest) * 1000))
                read = pair.driver({"what": "read", "backend": backend})
                print("%-9s reading the hit list (and the 100,000 allowlist entries): %d senders in %.2f s"
                      % (backend, read["count"], read["seconds"]))
                fill(pair, backend, 20000)
                read = pair.driver({"what": "read", "backend": backend})
                print("%-9s reading the hit list (and the 100,000 allowlist entries): %d senders in %.2f s"
                      % (backend, read["count"], read["seconds"]))
            finally:
                pair.delete()


if __name__ == "__main__":
    main()
