"""A trap firewall (mx_trap_firewall, run through main()) against real nftables / iptables + ipset, between two network namespaces.

The host namespace holds its own MX address and a trap address and runs a greeting listener on port 25; the sender
namespace connects from addresses of its own (the trap never records the host's own addresses), and forges SYNs in
other senders' names with raw Ethernet frames. No assertion here depends on how fast the machine is: timers are far
longer than the tests, and the one expiry is waited out by polling with a generous deadline.
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
PRIMARY = ["198.51.100.20", "2001:db8:77::20"]
TRAP = ["198.51.100.91", "2001:db8:77::91"]
BOT = "198.51.100.66"
BOT2 = "198.51.100.67"
PARTNER = "198.51.100.70"
EXEMPT = "198.51.100.80"
BYSTANDER = "198.51.100.99"
WALKER = "198.51.100.71"
LEGIT = "198.51.100.72"
# IPv6 senders: the bot and its neighbour share a /64; the others have one each.
BOT6 = "2001:db8:77:1::66"
BOT6_NEIGHBOUR = "2001:db8:77:1::67"
OTHER6 = "2001:db8:77:2::99"
WALKER6 = "2001:db8:77:3::71"
LEGIT6 = "2001:db8:77:4::72"
SENDERS = [BOT, BOT2, PARTNER, EXEMPT, BYSTANDER, WALKER, LEGIT, BOT6, BOT6_NEIGHBOUR, OTHER6, WALKER6, LEGIT6]
SPEC = {"kind": "trap", "addresses": PRIMARY, "traps": TRAP, "allow": [PARTNER, EXEMPT], "suppress_time": 3600}
SUPPRESSING = dict(SPEC, suppress=True)
BACKENDS = ["nftables", "iptables"]
# What a sender meets: the MTA's greeting, a reset instead of a handshake, or a reset right after it.
GREETING = "greeting"
RESET = "reset"
RESET_AFTER_HANDSHAKE = "reset after handshake"
LISTENER = (
    "import socket,os\n"
    "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n"
    "s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('::',25));s.listen(64)\n"
    "os.fork() and os._exit(0)\n"
    "while True:\n"
    "  c=s.accept()[0]\n"
    "  try: c.sendall(b'220 trap test\\r\\n')\n"
    "  except OSError: pass\n"
    "  c.close()\n"
)


class Pair(netns.Pair):
    """Two namespaces on one veth: 'host' (MX and trap addresses, a port 25 listener) and 'net' (senders)."""

    def __init__(self):
        super().__init__("mxtrap")

    def set_up(self):
        for namespace in (self.host, self.net):
            self.sh(namespace, "ip -6 route add 2001:db8:77::/48 dev eth0")
        self.host.add_addresses(["%s/%s" % (address, 64 if ":" in address else 24) for address in PRIMARY + TRAP], "eth0")
        self.net.add_addresses(["%s/%s" % (address, 64 if ":" in address else 24) for address in SENDERS], "eth0")
        self.host_mac = json.loads(self.sh(self.host, "ip -j link show eth0"))[0]["address"]
        self.sh(self.host, "python3 -c \"%s\" >/dev/null 2>&1 &" % LISTENER.replace('"', '\\"'))
        # The listener is up once it greets (deadline far beyond any real start-up).
        deadline = time.monotonic() + 60
        while self.connect(PRIMARY[0], PRIMARY[0], namespace=self.host) != GREETING:
            assert time.monotonic() < deadline, "the test listener did not start"
            time.sleep(0.1)

    @staticmethod
    def sh(namespace, command):
        return namespace.sh(command)

    def converge(self, backend, state="present", spec=None, check=False):
        request = {"backend": backend, "state": state, "spec": spec or SPEC, "check": check, "name": "mx_trap"}
        result = self.host.run([sys.executable, str(DRIVER)], input=json.dumps(request))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def connect(self, source, address, namespace=None, timeout=30):
        """What a sender from ``source`` meets on port 25 of ``address``. A deadline, not a speed check: only a drop
        ever uses it up (on a busy machine a greeting may take seconds)."""
        code = (
            "import socket\ns=socket.socket(socket.AF_INET6 if ':' in %r else socket.AF_INET);s.settimeout(%d);s.bind((%r,0))\n"
            "try:\n  s.connect((%r,25))\n"
            "except ConnectionRefusedError: print('reset'); raise SystemExit\n"
            "except ConnectionResetError: print('reset after handshake'); raise SystemExit\n"
            "except OSError as e: print(type(e).__name__); raise SystemExit\n"
            "try:\n  print('greeting' if s.recv(64).startswith(b'220') else 'closed')\n"
            "except ConnectionResetError: print('reset after handshake')\n"
            "except OSError as e: print(type(e).__name__)\n" % (address, timeout, source, address)
        )
        return (namespace or self.net).run([sys.executable, "-c", code], check=True).stdout.strip()

    def forge_syns(self, claimed_source, address, count=5):
        """SYNs to ``address`` that claim to come from ``claimed_source``: no handshake can follow."""
        self.sh(self.net, "%s %s eth0 %s %s %s 25 %d" % (sys.executable, FORGE, self.host_mac, claimed_source, address, count))

    def fill(self, backend, set_name, family, count):
        """Put ``count`` made-up sources (documentation addresses, never on any interface) into one of the trap's sets."""
        fillers = ["203.0.113.%d" % (index + 1) if family == 4 else "2001:db8:ff:%x::" % index
                   for index in range(count)]
        if backend == "nftables":
            self.sh(self.host, "nft add element inet mailsec_mx_trap %s%d '{ %s }'" % (set_name, family, ", ".join(fillers)))
        else:
            suffix = {"hits": "h", "seen": "s", "tried": "t"}[set_name] + str(family)
            self.sh(self.host, "for a in %s; do ipset add mailsec_mx_trap_%s $a; done" % (" ".join(fillers), suffix))


@pytest.fixture
def pair():
    namespaces = Pair()
    yield namespaces
    namespaces.delete()


def sources(result):
    return {hit["source"]: hit for hit in result["hits"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trap_hit_is_recorded_once_per_connection_and_counted(pair, backend):
    assert pair.converge(backend)["changed"] is True
    assert pair.converge(backend)["changed"] is False
    started = time.monotonic()
    # Without suppression the trap still reaches the MTA, every time.
    assert [pair.connect(BOT, TRAP[0]) for attempt in range(3)] == [GREETING] * 3
    assert pair.connect(BOT6, TRAP[1]) == GREETING
    result = pair.converge(backend)
    elapsed = time.monotonic() - started
    assert result["changed"] is False
    caught = sources(result)
    assert set(caught) == {BOT, "2001:db8:77:1::/64"}
    assert caught[BOT]["hits"] == 3 and caught["2001:db8:77:1::/64"]["hits"] == 1
    # Times are read against what the test itself measured, never against a fixed allowance.
    assert caught[BOT]["last_seen_ago"] <= elapsed + 2
    assert 3599 <= caught[BOT]["expires_in"] + caught[BOT]["last_seen_ago"] <= 3601
    assert result["counters"]["trap_hits"] == 4
    # Connecting to the primary records nobody, and without suppression nobody is refused.
    assert pair.connect(BYSTANDER, PRIMARY[0]) == GREETING and pair.connect(BOT, PRIMARY[0]) == GREETING
    assert BYSTANDER not in sources(pair.converge(backend))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", [0, 1])
def test_forged_syns_in_a_legitimate_senders_name_record_no_one(pair, backend, family):
    """Before: one forged SYN 'from' a big mail provider got it refused on every MX address for an hour."""
    legit = [LEGIT, LEGIT6][family]
    pair.converge(backend, spec=SUPPRESSING)
    pair.forge_syns(legit, TRAP[family], count=5)
    # The forged SYNs were seen (the trap host answered them), yet nobody was recorded.
    result = pair.converge(backend, spec=SUPPRESSING)
    assert result["hits"] == [] and result["counters"]["trap_hits"] == 0
    assert pair.connect(legit, PRIMARY[family]) == GREETING
    assert pair.connect(legit, TRAP[family]) == GREETING


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family", [0, 1])
def test_a_sender_that_tried_the_primary_first_is_walking_the_mx_list_and_never_recorded(pair, backend, family):
    """An MTA that met a 4xx (or a busy MTA) on the primary walks on down to the trap: it is no spammer."""
    walker = [WALKER, WALKER6][family]
    pair.converge(backend, spec=SUPPRESSING)
    assert pair.connect(walker, PRIMARY[family]) == GREETING
    assert pair.connect(walker, TRAP[family]) == GREETING
    assert pair.connect(walker, TRAP[family]) == GREETING
    assert pair.connect(walker, PRIMARY[family]) == GREETING
    result = pair.converge(backend, spec=SUPPRESSING)
    assert result["hits"] == [] and result["counters"]["trap_hits"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("family, answer", [(0, "reject with tcp reset"), (1, "reject with tcp reset"), (0, "drop")])
def test_a_sender_that_could_not_reach_the_primary_is_walking_the_mx_list_too(pair, backend, family, answer):
    """The primary's port 25 refuses or drops (another firewall, after ours) while the traps answer: the walker's SYN
    is all the trap host sees of its try, and it is enough to spare it (a forged SYN can only spare, never catch)."""
    walker = [WALKER, WALKER6][family]
    selector = ["ip", "ip6"][family]
    pair.sh(pair.host, "nft add table inet other && nft add chain inet other input '{ type filter hook input priority 10; }'"
                       " && nft add rule inet other input %s daddr %s tcp dport 25 %s" % (selector, PRIMARY[family], answer))
    pair.converge(backend, spec=SUPPRESSING)
    dropped = not answer.startswith("reject")
    assert pair.connect(walker, PRIMARY[family], timeout=3 if dropped else 30) == ("TimeoutError" if dropped else "reset")
    assert pair.connect(walker, TRAP[family]) == GREETING
    assert pair.connect(walker, TRAP[family]) == GREETING
    result = pair.converge(backend, spec=SUPPRESSING)
    assert result["hits"] == [] and result["counters"]["trap_hits"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_suppression_refuses_the_hitter_everywhere_but_spares_exempt_allowlisted_and_local(pair, backend):
    pair.converge(backend, spec=SUPPRESSING)
    # The first trap connection still reaches the MTA; from then on the hitter is refused on every MX address.
    assert pair.connect(BOT, TRAP[0]) == GREETING
    assert pair.connect(BOT, PRIMARY[0]) == RESET
    assert pair.connect(BOT, TRAP[0]) == RESET
    # IPv6 is a source of its own.
    assert pair.connect(BOT6, PRIMARY[1]) == GREETING
    for source in (PARTNER, EXEMPT):
        assert pair.connect(source, TRAP[0]) == GREETING
        assert pair.connect(source, PRIMARY[0]) == GREETING
    # The host itself (probing its own traps) is never recorded.
    assert pair.connect(PRIMARY[0], TRAP[0], namespace=pair.host) == GREETING
    assert pair.connect(PRIMARY[0], PRIMARY[0], namespace=pair.host) == GREETING
    # Someone who never went near a trap still delivers.
    assert pair.connect(BYSTANDER, PRIMARY[0]) == GREETING
    result = pair.converge(backend, spec=SUPPRESSING)
    assert set(sources(result)) == {BOT}
    assert sources(result)[BOT]["hits"] == 1
    assert result["counters"] == {"trap_hits": 1, "suppressed": 2, "unrecorded": 0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_bot_rotating_inside_its_64_stays_refused_and_its_neighbours_too(pair, backend):
    pair.converge(backend, spec=SUPPRESSING)
    assert pair.connect(BOT6, TRAP[1]) == GREETING
    assert pair.connect(BOT6_NEIGHBOUR, PRIMARY[1]) == RESET
    assert pair.connect(BOT6_NEIGHBOUR, TRAP[1]) == RESET
    assert pair.connect(OTHER6, PRIMARY[1]) == GREETING
    assert set(sources(pair.converge(backend, spec=SUPPRESSING))) == {"2001:db8:77:1::/64"}
    # Per /128 on request: then the neighbour is someone else.
    per_address = dict(SUPPRESSING, ipv6_prefix=128)
    pair.converge(backend, spec=per_address)
    assert pair.connect(BOT6_NEIGHBOUR, PRIMARY[1]) == GREETING


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_seen_set_still_records_and_refuses_a_new_bot(pair, backend):
    """Before: 'add @seen' and 'update @hits' shared a rule, so a full seen set stopped all recording."""
    spec = dict(SUPPRESSING, set_size=16)
    pair.converge(backend, spec=spec)
    pair.fill(backend, "seen", 4, 16)
    assert pair.converge(backend, spec=spec)["sets"]
    assert pair.connect(BOT, TRAP[0]) == GREETING
    assert pair.connect(BOT, PRIMARY[0]) == RESET
    result = pair.converge(backend, spec=spec)
    assert BOT in sources(result) and sources(result)[BOT]["hits"] is None
    assert result["counters"]["trap_hits"] == 1 and result["counters"]["unrecorded"] == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_hits_set_evicts_nobody_and_refuses_what_it_cannot_record(pair, backend):
    spec = dict(SUPPRESSING, set_size=16)
    pair.converge(backend, spec=spec)
    assert pair.connect(BOT, TRAP[0]) == GREETING
    pair.fill(backend, "hits", 4, 15)
    # The set is full now: the bot recorded before stays refused, a new bot is refused at the trap, and counted.
    assert pair.connect(BOT2, TRAP[0]) == RESET_AFTER_HANDSHAKE
    assert pair.connect(BOT, PRIMARY[0]) == RESET
    result = pair.converge(backend, spec=spec)
    assert BOT in sources(result) and BOT2 not in sources(result)
    assert result["counters"]["unrecorded"] == 1
    # Senders walking the MX list are never affected.
    assert pair.connect(WALKER, PRIMARY[0]) == GREETING and pair.connect(WALKER, TRAP[0]) == GREETING


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_tried_set_pauses_recording_rather_than_catch_an_mta(pair, backend):
    spec = dict(SUPPRESSING, set_size=16)
    pair.converge(backend, spec=spec)
    pair.fill(backend, "tried", 4, 16)
    # The walker's visit to the primary cannot be remembered: its trap connection must not get it recorded.
    assert pair.connect(WALKER, PRIMARY[0]) == GREETING
    assert pair.connect(WALKER, TRAP[0]) == GREETING
    assert pair.connect(WALKER, PRIMARY[0]) == GREETING
    result = pair.converge(backend, spec=spec)
    assert result["hits"] == [] and result["counters"]["unrecorded"] >= 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hit_expires(pair, backend):
    spec = dict(SUPPRESSING, suppress_time=3)
    pair.converge(backend, spec=spec)
    assert pair.connect(BOT, TRAP[0]) == GREETING
    # Waited out by polling: however slow the machine, the test only asserts what happens once it is gone.
    deadline = time.monotonic() + 120
    while pair.converge(backend, spec=spec)["hits"]:
        assert time.monotonic() < deadline, "a 3 s trap hit was still remembered after 120 s"
        time.sleep(1)
    assert pair.connect(BOT, PRIMARY[0]) == GREETING


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_changed_spec_keeps_what_the_trap_remembers(pair, backend):
    pair.converge(backend)
    started = time.monotonic()
    assert pair.connect(BOT, TRAP[0]) == GREETING
    result = pair.converge(backend, spec=dict(SUPPRESSING, suppress_time=600))
    elapsed = time.monotonic() - started
    assert result["changed"] is True
    caught = sources(result)[BOT]
    # ipset keeps whole seconds left and each read rounds down: up to 2 s more than the kernel's exact age.
    assert caught["hits"] == 1 and caught["last_seen_ago"] <= elapsed + 2
    # The hit keeps its age under the new timeout.
    assert 599 <= caught["expires_in"] + caught["last_seen_ago"] <= 601
    # Suppression switched on applies to what was recorded before the switch.
    assert pair.connect(BOT, PRIMARY[0]) == RESET


@pytest.mark.parametrize("backend", BACKENDS)
def test_absent_removes_exactly_what_was_added(pair, backend):
    pair.sh(pair.host, "nft add table inet filter && nft add chain inet filter input '{ type filter hook input priority 0; }'"
                       " && nft add rule inet filter input tcp dport 2525 accept")
    pair.sh(pair.host, "ipset create foreign hash:ip && iptables -A INPUT -p tcp --dport 8080 -j ACCEPT"
                       " && ip6tables -A INPUT -p tcp --dport 8080 -j ACCEPT")
    listing = "nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; ipset save"
    before = pair.sh(pair.host, listing)
    pair.converge(backend, spec=SUPPRESSING)
    pair.connect(BOT, TRAP[0])
    assert pair.converge(backend, state="absent")["changed"] is True
    assert pair.converge(backend, state="absent")["changed"] is False
    assert pair.sh(pair.host, listing) == before
    assert pair.connect(BOT, PRIMARY[0]) == GREETING


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_mode_changes_nothing(pair, backend):
    result = pair.converge(backend, check=True)
    assert result["changed"] is True and "mailsec" not in pair.sh(pair.host, "nft list ruleset; ipset list -n")
