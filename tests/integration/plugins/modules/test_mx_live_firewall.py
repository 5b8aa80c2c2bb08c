"""The live MX firewall (mx_live_firewall, run through main()) against real nftables / iptables + ipset, between two
network namespaces, read back through mailsec.mx.nolisting_sources.

The host namespace holds a dead address, live MX addresses and a trap address and runs a greeting listener on port 25
(``Hosts``, shared with test_nolisting_sources.py); the sender namespace connects from addresses of its own and forges
SYNs in other senders' names with raw Ethernet frames.  No assertion depends on how fast the machine is: record times
are far longer than the tests, and times read back are compared with what the test itself measured.
"""

import json
import os
import pathlib
import shutil
import sys
import time

import pytest

from lab import netns

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nftables"),
]

HERE = pathlib.Path(__file__).parent
DRIVER = HERE / "firewall_driver.py"
FORGE = HERE / "forge.py"
DEAD = ["198.51.100.10", "2001:db8:77::10"]
LIVE = ["198.51.100.20", "2001:db8:77::20"]
# A live address another host holds: every live host gets all of them.
ELSEWHERE = ["198.51.100.30", "2001:db8:77::30"]
TRAP = ["198.51.100.91", "2001:db8:77::91"]
MTA = "198.51.100.40"
CRUDE = "198.51.100.66"
PARTNER = "198.51.100.70"
# Claimed by forged SYNs only: on no interface.
SPOOFED = "198.51.100.99"
# Two senders of one /64, and one of another.
MTA6 = "2001:db8:77:1::40"
NEIGHBOUR6 = "2001:db8:77:1::41"
CRUDE6 = "2001:db8:77:2::66"
SENDERS = [MTA, CRUDE, PARTNER, MTA6, NEIGHBOUR6, CRUDE6]
BACKENDS = ["nftables", "iptables"]
LIVE_SPEC = {"kind": "live", "addresses": LIVE + ELSEWHERE}
GREETING = "greeting"
RESET = "reset"
LISTENER = (
    "import socket,os\n"
    "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('::',25));s.listen(64)\n"
    "os.fork() and os._exit(0)\n"
    "while True:\n"
    "  c=s.accept()[0]\n"
    "  try: c.sendall(b'220 test\\r\\n')\n"
    "  except OSError: pass\n"
    "  c.close()\n"
)


class Hosts(netns.Pair):
    """Two namespaces on one veth: 'host' (dead, live and trap addresses, a port 25 listener) and 'net' (senders)."""

    def __init__(self):
        super().__init__("mxrec")

    def set_up(self):
        for namespace in (self.host, self.net):
            namespace.sh("ip -6 route add 2001:db8:77::/48 dev eth0")
        self.host.add_addresses(["%s/%s" % (address, 64 if ":" in address else 24) for address in DEAD + LIVE + TRAP], "eth0")
        self.net.add_addresses(["%s/%s" % (address, 64 if ":" in address else 24) for address in SENDERS], "eth0")
        self.host_mac = json.loads(self.host.sh("ip -j link show eth0"))[0]["address"]
        self.host.sh("python3 -c \"%s\" >/dev/null 2>&1 &" % LISTENER.replace('"', '\\"'))
        # The listener is up once it greets (deadline far beyond any real start-up).
        deadline = time.monotonic() + 60
        while self.connect(LIVE[0], LIVE[0], namespace=self.host) != GREETING:
            assert time.monotonic() < deadline, "the test listener did not start"
            time.sleep(0.1)

    def converge(self, backend, spec, state="present", check=False, may_fail=False):
        """The firewall module's result for ``spec`` (its kind: "live", "trap", else the dead primary), with "read":
        what mailsec.mx.nolisting_sources reads after the run."""
        name = {"live": "mx_live", "trap": "mx_trap"}.get(spec.get("kind"), "dead_primary")
        request = {"backend": backend, "state": state, "spec": spec, "check": check, "name": name, "may_fail": may_fail}
        result = self.host.run([sys.executable, str(DRIVER)], input=json.dumps(request))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def connect(self, source, address, namespace=None, timeout=30):
        """What a sender from ``source`` meets on port 25 of ``address``. A deadline, not a speed check."""
        code = (
            "import socket\ns=socket.socket(socket.AF_INET6 if ':' in %r else socket.AF_INET);s.settimeout(%d);s.bind((%r,0))\n"
            "try:\n  s.connect((%r,25))\n"
            "except ConnectionRefusedError: print('reset'); raise SystemExit\n"
            "except OSError as e: print(type(e).__name__); raise SystemExit\n"
            "try:\n  print('greeting' if s.recv(64).startswith(b'220') else 'closed')\n"
            "except OSError as e: print(type(e).__name__)\n" % (address, timeout, source, address)
        )
        return (namespace or self.net).run([sys.executable, "-c", code], check=True).stdout.strip()

    def forge_syns(self, claimed_source, address, count=5):
        """SYNs to ``address`` that claim to come from ``claimed_source``: no handshake can follow."""
        self.net.sh("%s %s eth0 %s %s %s 25 %d" % (sys.executable, FORGE, self.host_mac, claimed_source, address, count))

    def listing(self):
        """What the collection's firewalls are in the host namespace (our tables, chains, rules and set headers), what
        the sets hold, counters and timers left out.  Only ours: with iptables-nft, a first ip6tables call may leave an
        empty filter table of its own."""
        return self.host.sh("nft -s -t list ruleset | sed -n '/^table inet mailsec_/,/^}/p'; "
                            "{ iptables-save; ip6tables-save; } | grep -i mailsec | sed 's/\\[[0-9]*:[0-9]*\\]//'; "
                            "ipset save | grep '^create mailsec' || true")


@pytest.fixture
def hosts():
    pair = Hosts()
    yield pair
    pair.delete()


def warnings(result):
    """The module's warnings as text (ansible-core 2.19 returns each as a summary of an event)."""
    return [warning["event"]["msg"] if isinstance(warning, dict) else warning for warning in result.get("warnings", [])]


def sources(result):
    """{source: item} of what nolisting_sources read after the run."""
    return {item["source"]: item for item in result["read"]["sources"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_connection_after_its_handshake_is_one_arrival(hosts, backend):
    assert hosts.converge(backend, LIVE_SPEC)["changed"] is True
    assert hosts.converge(backend, LIVE_SPEC)["changed"] is False
    before = time.time()
    # No verdict: every connection reaches the MTA.
    assert [hosts.connect(MTA, LIVE[0]) for attempt in range(3)] == [GREETING] * 3
    assert hosts.connect(MTA6, LIVE[1]) == GREETING and hosts.connect(NEIGHBOUR6, LIVE[1]) == GREETING
    result = hosts.converge(backend, LIVE_SPEC)
    after = time.time()
    assert result["changed"] is False
    arrived = sources(result)
    # IPv6 per /64: the two senders of one /64 are one source.
    assert list(arrived) == [MTA, "2001:db8:77:1::/64"]
    assert arrived[MTA]["count"] == 3 and arrived["2001:db8:77:1::/64"]["count"] == 2
    assert "days" not in arrived[MTA]
    # Times against what the test measured (ipset keeps whole seconds: up to one early).
    for item in arrived.values():
        assert before - 1 <= item["first_seen"] <= item["last_seen"] <= after
    assert result["read"]["counters"] == {"arrivals": 5}
    assert result["read"]["prefixes"] == {"4": 32, "6": 64}
    assert [level["elements"] for level in result["read"]["sets"]] == [1, 1, 1, 1]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", [0, 1])
def test_forged_syns_and_the_host_itself_are_not_arrivals(hosts, backend, family):
    hosts.converge(backend, LIVE_SPEC)
    claimed = [SPOOFED, "2001:db8:77:9::99"][family]
    hosts.forge_syns(claimed, LIVE[family], count=5)
    # The host probing its own MX address is no sender.
    assert hosts.connect(LIVE[family], LIVE[family], namespace=hosts.host) == GREETING
    result = hosts.converge(backend, LIVE_SPEC)
    assert result["read"]["sources"] == [] and result["read"]["counters"] == {"arrivals": 0}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("trap_first", [True, False])
def test_beside_the_trap_each_looks_at_every_connection_once(hosts, backend, trap_first):
    """The primary is a live MX host and the trap host: label 102 and the trap's 101 must not hide one from the other.
    Whichever firewall sees the connection first marks it; with one label, the other would never look at it (the
    firewall loaded last comes first: both orders are tried)."""
    trap = {"kind": "trap", "addresses": LIVE, "traps": TRAP}
    for spec in ([trap, LIVE_SPEC] if trap_first else [LIVE_SPEC, trap]):
        hosts.converge(backend, spec)
    # An MTA walking the MX list: an arrival here, 'tried' for the trap, so its trap connection is no hit.
    assert hosts.connect(MTA, LIVE[0]) == GREETING and hosts.connect(MTA, TRAP[0]) == GREETING
    # A bot going straight for the trap: a hit there, no arrival at a live address.
    assert hosts.connect(CRUDE, TRAP[0]) == GREETING
    # Once each: a label bit the other firewall set must not make a connection's every later packet count again
    # (nft's 'ct label != 101' compares the whole label; 'ct label ! 101' tests the one bit).
    live = hosts.converge(backend, LIVE_SPEC)["read"]
    assert list(sources({"read": live})) == [MTA] and sources({"read": live})[MTA]["count"] == 1
    assert live["counters"] == {"arrivals": 1}
    caught = hosts.converge(backend, trap)
    assert [(hit["source"], hit["hits"]) for hit in caught["hits"]] == [(CRUDE, 1)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_host_holding_none_of_the_addresses_says_so_once(hosts, backend):
    elsewhere = dict(LIVE_SPEC, addresses=ELSEWHERE)
    result = hosts.converge(backend, elsewhere)
    assert [warning for warning in warnings(result) if "holds" in warning] == [
        "no interface of this host holds any of %s: the live MX firewall records nothing here" % ", ".join(ELSEWHERE)]
    # Holding one of them is enough, and the others' hosts are not worth a word.
    assert not [warning for warning in warnings(hosts.converge(backend, LIVE_SPEC)) if "holds" in warning]
    assert "missing_addresses" in result and result["missing_addresses"] == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_set_stops_remembering_and_nothing_else(hosts, backend):
    spec = dict(LIVE_SPEC, set_size=16)
    hosts.converge(backend, spec)
    fillers = ["203.0.113.%d" % index for index in range(1, 17)]
    if backend == "nftables":
        for name in ("arrived4", "arrived_seen4"):
            hosts.host.sh("nft add element inet mailsec_mx_live %s '{ %s }'" % (name, ", ".join(fillers)))
    else:
        hosts.host.sh("for s in ar4 as4; do for a in %s; do ipset add mailsec_mx_live_$s $a; done; done" % " ".join(fillers))
    assert hosts.connect(MTA, LIVE[0]) == GREETING
    result = hosts.converge(backend, spec)
    assert MTA not in sources(result) and result["read"]["counters"] == {"arrivals": 1}
    assert {level["percent"] for level in result["read"]["sets"] if level["set"].endswith("4")} == {100.0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_mode_absent_and_a_changed_record_time(hosts, backend):
    before = hosts.listing()
    result = hosts.converge(backend, LIVE_SPEC, check=True)
    assert result["changed"] is True and hosts.listing() == before and result["read"]["present"] is False
    hosts.converge(backend, LIVE_SPEC)
    assert hosts.connect(MTA, LIVE[0]) == GREETING
    shorter = dict(LIVE_SPEC, record_time=3600)
    live = hosts.listing()
    assert hosts.converge(backend, shorter, check=True)["changed"] is True and hosts.listing() == live
    # A new record time keeps what was remembered, with its age.
    moved = hosts.converge(backend, shorter)
    assert moved["changed"] is True and sources(moved)[MTA]["count"] == 1
    assert hosts.converge(backend, shorter)["changed"] is False
    assert hosts.converge(backend, shorter, state="absent")["changed"] is True
    assert hosts.converge(backend, shorter, state="absent")["changed"] is False
    assert hosts.listing() == before


@pytest.mark.parametrize("changes, message", [
    (dict(action="drop"), "action: the live MX firewall refuses no one"),
    (dict(allow=[PARTNER]), "allow: the live MX firewall refuses no one"),
    (dict(interface="eth0"), "interface: the live MX addresses are spread over several hosts"),
])
def test_options_that_do_not_apply_are_refused_before_anything_changes(hosts, changes, message):
    before = hosts.listing()
    result = hosts.converge("nftables", dict(LIVE_SPEC, **changes), may_fail=True)
    assert result["failed"] is True and result["msg"].startswith(message) and result["msg"].endswith("; nothing was changed")
    assert hosts.listing() == before
