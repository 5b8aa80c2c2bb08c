"""A firewall host and its senders in two throwaway namespaces, for the exporter's tests, its fixtures and its bench.

``host`` holds the dead primary's addresses, the primary MX (the trap's own MX address), a live MX and a trap, with
a greeting listener on port 25 of every address; ``net`` holds the senders. Firewalls are loaded with the real
modules through tests/integration/plugins/modules/firewall_driver.py; the exporter script runs in ``host`` as the
timer would run it there; node_exporter runs in ``host`` and is scraped from ``net``, as Prometheus would.
"""

from __future__ import annotations

import json
import pathlib
import re
import subprocess
import sys
import time

from lab import netns

ROOT = pathlib.Path(__file__).resolve().parents[3]
DRIVER = ROOT / "tests" / "integration" / "plugins" / "modules" / "firewall_driver.py"
EXPORTER = ROOT / "roles" / "mx_metrics" / "files" / "mailsec_mx_metrics.py"
NODE_EXPORTER = "prometheus-node-exporter"

DEAD = ["198.51.100.10", "2001:db8:51::10"]
PRIMARY = ["198.51.100.20", "2001:db8:51::20"]
TRAP = ["198.51.100.91", "2001:db8:51::91"]
# A live MX address of this host that is not the trap's own (a backstop, say): the live kind's alone.
LIVE = ["198.51.100.21", "2001:db8:51::21"]
# node_exporter listens here, on the host's side of the link.
SCRAPE = "198.51.100.9"
SCRAPE_PORT = 9100
BOT = "198.51.100.66"
MTA = "198.51.100.67"
PARTNER = "198.51.100.130"
BOT6 = "2001:db8:51:1::66"
PROMETHEUS = "198.51.100.250"
SENDERS = [BOT, MTA, PARTNER, BOT6, PROMETHEUS]

DEAD_SPEC = {"addresses": DEAD, "allow": ["198.51.100.128/26"]}
TRAP_SPEC = {"kind": "trap", "addresses": PRIMARY, "traps": TRAP}
LIVE_SPEC = {"kind": "live", "addresses": LIVE}
# (request name, spec) of each firewall a test loads.
FIREWALLS = {"dead_primary": DEAD_SPEC, "mx_trap": TRAP_SPEC, "mx_live": LIVE_SPEC}

# Odd firewalls next to ours: names with a quote, a backslash, a newline and a tab (nft's JSON input takes any
# name; the kernel keeps it), a table of no known kind, an iptables chain whose set name has a blank (iptables-save
# writes it unquoted: it cannot be read back), and tables of others.
ODD_TABLE = 'mailsec_odd"\\\n\t'
ODD_SET = 'we"ird\\\nset'
NFT_ODD = {"nftables": [
    {"add": {"table": {"family": "inet", "name": ODD_TABLE}}},
    {"add": {"counter": {"family": "inet", "table": ODD_TABLE, "name": "allowed"}}},
    {"add": {"counter": {"family": "inet", "table": ODD_TABLE, "name": "refused"}}},
    {"add": {"set": {"family": "inet", "table": ODD_TABLE, "name": ODD_SET, "type": "ipv4_addr", "size": 16}}},
    {"add": {"element": {"family": "inet", "table": ODD_TABLE, "name": ODD_SET, "elem": ["203.0.113.1", "203.0.113.2"]}}},
    {"add": {"table": {"family": "inet", "name": "mailsec_other"}}},
    {"add": {"counter": {"family": "inet", "table": "mailsec_other", "name": "foo"}}},
    {"add": {"set": {"family": "inet", "table": "mailsec_other", "name": "ports", "type": "inet_service",
                     "flags": ["interval"], "elem": [{"range": [25, 26]}, 587]}}},
    {"add": {"table": {"family": "inet", "name": "other_table"}}},
]}
IPTABLES_ODD = """
ipset create 'mailsec_x"q' hash:ip maxelem 1024
ipset add 'mailsec_x"q' 203.0.113.1
ipset create 'mailsec_x y' hash:ip
iptables -N 'MAILSEC_ODD"Q'
iptables -A 'MAILSEC_ODD"Q' -m set --match-set 'mailsec_x"q' src -j RETURN
iptables -A 'MAILSEC_ODD"Q' -p tcp -m comment --comment 'a "quoted" \\ comment' -j REJECT --reject-with tcp-reset
iptables -N MAILSEC_SPACE
iptables -A MAILSEC_SPACE -m set --match-set 'mailsec_x y' src -j RETURN
iptables -N OTHER_CHAIN
"""

LISTENER = (
    "import socket,os\n"
    "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('::',25));s.listen(64)\n"
    "os.fork() and os._exit(0)\n"
    "while True:\n"
    "  c=s.accept()[0]\n"
    "  try: c.sendall(b'220 metrics test\\r\\n')\n"
    "  except OSError: pass\n"
    "  c.close()\n"
)
CONNECT = (
    "import socket,sys\n"
    "source,address=sys.argv[1:3]\n"
    "s=socket.socket(socket.AF_INET6 if ':' in address else socket.AF_INET);s.settimeout(30);s.bind((source,0))\n"
    "try:\n  s.connect((address,25))\n"
    "except ConnectionRefusedError: print('reset'); raise SystemExit\n"
    "except OSError as e: print(type(e).__name__); raise SystemExit\n"
    "try:\n  print('greeting' if s.recv(64).startswith(b'220') else 'closed')\n"
    "except OSError as e: print(type(e).__name__)\n"
)
# A deadline for anything that starts up; generous, never a speed check.
DEADLINE = 60


class MetricsPair(netns.Pair):
    """``host`` (firewalls, a port 25 listener, the exporter, node_exporter) and ``net`` (senders, the scraper)."""

    def __init__(self):
        self.node_exporter = None
        super().__init__("mxmet")

    def set_up(self):
        for namespace in (self.host, self.net):
            namespace.sh("ip -6 route add 2001:db8:51::/48 dev eth0")
        self.host.add_addresses(["%s/%s" % (address, 64 if ":" in address else 24)
                                 for address in DEAD + PRIMARY + LIVE + TRAP + [SCRAPE]], "eth0")
        self.net.add_addresses(["%s/%s" % (address, 64 if ":" in address else 24) for address in SENDERS], "eth0")
        self.host.sh("python3 -c \"%s\" >/dev/null 2>&1 &" % LISTENER.replace('"', '\\"'))
        deadline = time.monotonic() + DEADLINE
        while self.connect(PRIMARY[0], PRIMARY[0], namespace=self.host) != "greeting":
            assert time.monotonic() < deadline, "the test listener did not start"
            time.sleep(0.1)

    def delete(self):
        self.stop_node_exporter()
        super().delete()

    def converge(self, backend, name, spec, state="present"):
        """Load (or remove) one firewall with its real module; the module's result."""
        request = {"backend": backend, "state": state, "spec": spec, "name": name}
        result = self.host.run([sys.executable, str(DRIVER)], input=json.dumps(request))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def add_odd_firewalls(self, backend):
        """NFT_ODD or IPTABLES_ODD, by hand."""
        if backend == "nftables":
            result = self.host.run(["nft", "-j", "-f", "-"], input=json.dumps(NFT_ODD))
            assert result.returncode == 0, result.stderr
        else:
            self.host.sh(IPTABLES_ODD)

    def connect(self, source, address, namespace=None):
        """What a sender from ``source`` meets on port 25 of ``address``: 'greeting', 'reset', or an error's name."""
        return (namespace or self.net).run([sys.executable, "-c", CONNECT, source, address], check=True).stdout.strip()

    def export(self, directory, *options):
        """Run the exporter in the host namespace, writing into ``directory``; the finished process."""
        return self.host.run(["python3", str(EXPORTER), "--directory", str(directory), *options])

    def start_node_exporter(self, directory):
        """node_exporter with only the textfile collector, reading ``directory``; returns once it answers."""
        log = open(pathlib.Path(directory).parent / "node-exporter.log", "wb")
        self.node_exporter = subprocess.Popen(self.host.command([
            NODE_EXPORTER, "--collector.disable-defaults", "--collector.textfile",
            "--collector.textfile.directory=%s" % directory, "--web.listen-address=%s:%d" % (SCRAPE, SCRAPE_PORT)]),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                return self.scrape()
            except (OSError, subprocess.CalledProcessError):
                if self.node_exporter.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("node_exporter did not answer: %s"
                                         % (pathlib.Path(directory).parent / "node-exporter.log").read_text()) from None
                time.sleep(0.2)

    def stop_node_exporter(self):
        if self.node_exporter is not None and self.node_exporter.poll() is None:
            self.node_exporter.terminate()
            self.node_exporter.wait(timeout=DEADLINE)
        self.node_exporter = None

    def scrape(self):
        """node_exporter's /metrics as Prometheus fetches it, over HTTP from the sender network."""
        code = ("import sys,urllib.request\n"
                "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())\n")
        url = "http://%s:%d/metrics" % (SCRAPE, SCRAPE_PORT)
        return self.net.run([sys.executable, "-c", code, url], check=True).stdout


def parse_exposition(text):
    """{(metric, frozenset of (label, value)): value} of a Prometheus text exposition, escapes decoded.

    A reader of its own (not the exporter's code), so a mistake in the exporter's escaping shows; a line it cannot
    read fails the test.
    """
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.fullmatch(line)
        assert match, "not an exposition line: %r" % line
        labels, inside = {}, match.group(2) or ""
        while inside:
            label = LABEL.match(inside)
            assert label, "labels not understood: %r" % line
            labels[label.group(1)] = ESCAPE.sub(lambda escape: UNESCAPED[escape.group(1)], label.group(2))
            inside = inside[label.end():]
        # An empty label is no label (Prometheus' own rule; node_exporter fills a family's missing labels with "").
        samples[(match.group(1), frozenset((key, text) for key, text in labels.items() if text))] = float(match.group(3))
    return samples


SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)",?')
ESCAPE = re.compile(r"\\(.)")
UNESCAPED = {"n": "\n", "\\": "\\", '"': '"'}


def value(samples, metric, **labels):
    """One sample's value; KeyError naming what is missing."""
    key = (metric, frozenset(labels.items()))
    if key not in samples:
        raise KeyError("no sample %s%s" % (metric, labels))
    return samples[key]
