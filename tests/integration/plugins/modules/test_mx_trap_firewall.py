"""A trap firewall (mx_firewall kind trap) against real nftables / iptables + ipset, between two network namespaces.

The host namespace holds its own MX address and a trap address and runs a listener on port 25; the sender
namespace connects from addresses of its own, since the trap never records the host's own addresses.
"""

import json
import pathlib
import shutil
import subprocess
import sys
import time
import uuid
import os

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nftables"),
]

DRIVER = pathlib.Path(__file__).with_name("firewall_driver.py")
PRIMARY, TRAP = ["198.51.100.20", "2001:db8:77::20"], ["198.51.100.91", "2001:db8:77::91"]
BOT, BOT6, PARTNER, EXEMPT, BYSTANDER = "198.51.100.66", "2001:db8:77::66", "198.51.100.70", "198.51.100.80", "198.51.100.99"
SPEC = {"kind": "trap", "addresses": PRIMARY, "traps": TRAP, "allow": [PARTNER, EXEMPT], "suppress_time": 3600}
BACKENDS = ["nftables", "iptables"]


class Pair:
    """Two namespaces on one veth: 'host' (MX and trap addresses, a port 25 listener) and 'net' (senders)."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.host, self.net = "mxtrap-h-" + tag, "mxtrap-n-" + tag
        for namespace in (self.host, self.net):
            subprocess.run(["ip", "netns", "add", namespace], check=True)
        subprocess.run(["ip", "link", "add", "h" + tag, "netns", self.host, "type", "veth", "peer", "name", "n" + tag,
                        "netns", self.net], check=True)
        self.sh(self.host, "ip link set lo up && ip link set h%s name eth0 && ip link set eth0 up" % tag)
        self.sh(self.net, "ip link set lo up && ip link set n%s name eth0 && ip link set eth0 up" % tag)
        for address in PRIMARY + TRAP:
            self.sh(self.host, "ip addr add %s/%s dev eth0%s" % (address, 64 if ":" in address else 24, " nodad" if ":" in address else ""))
        for address in (BOT, PARTNER, EXEMPT, BYSTANDER):
            self.sh(self.net, "ip addr add %s/24 dev eth0" % address)
        self.sh(self.net, "ip addr add %s/64 dev eth0 nodad" % BOT6)
        self.sh(self.host, "python3 -c 'import socket,os\n"
                           "s=socket.socket(socket.AF_INET6);s.setsockopt(socket.IPPROTO_IPV6,socket.IPV6_V6ONLY,0)\n"
                           "s.bind((\"::\",25));s.listen(64)\n"
                           "os.fork() and os._exit(0)\n"
                           "while True: s.accept()[0].close()' >/dev/null 2>&1 &")

    @staticmethod
    def sh(namespace, command):
        result = subprocess.run(["ip", "netns", "exec", namespace, "sh", "-ec", command], capture_output=True, text=True, check=False)
        assert result.returncode == 0, "%s failed: %s" % (command, result.stderr)
        return result.stdout

    def converge(self, backend, state="present", spec=None, check=False):
        request = {"backend": backend, "state": state, "spec": spec or SPEC, "check": check, "name": "mx_trap"}
        result = subprocess.run(["ip", "netns", "exec", self.host, sys.executable, str(DRIVER)],
                                input=json.dumps(request), capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def connect(self, source, address, namespace=None):
        code = (
            "import socket\ns=socket.socket(socket.AF_INET6 if ':' in %r else socket.AF_INET);s.settimeout(2);s.bind((%r,0))\n"
            "try:\n  s.connect((%r,25));print('connected')\n"
            "except ConnectionRefusedError: print('reset')\n"
            "except OSError as e: print(type(e).__name__)\n" % (address, source, address)
        )
        return subprocess.run(["ip", "netns", "exec", namespace or self.net, sys.executable, "-c", code],
                              capture_output=True, text=True, check=True).stdout.strip()

    def delete(self):
        for namespace in (self.host, self.net):
            subprocess.run(["ip", "netns", "del", namespace], check=False)


@pytest.fixture
def pair():
    namespaces = Pair()
    time.sleep(0.2)
    yield namespaces
    namespaces.delete()


def sources(result):
    return {hit["source"]: hit for hit in result["hits"]}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_trap_hit_is_recorded_within_a_second_and_counted(pair, backend):
    assert pair.converge(backend)["changed"] is True
    assert pair.converge(backend)["changed"] is False
    started = time.monotonic()
    # Without suppression the trap still reaches the MTA, every time.
    assert [pair.connect(BOT, TRAP[0]) for attempt in range(3)] == ["connected"] * 3
    assert pair.connect(BOT6, TRAP[1]) == "connected"
    result = pair.converge(backend)
    assert time.monotonic() - started < 5
    assert result["changed"] is False
    caught = sources(result)
    assert set(caught) == {BOT, BOT6}
    assert caught[BOT]["hits"] == 3 and caught[BOT6]["hits"] == 1
    assert caught[BOT]["last_seen_ago"] <= 1 and 3595 <= caught[BOT]["expires_in"] <= 3600
    assert result["counters"]["trap_hits"] == 4
    # Connecting to the primary records nobody, and without suppression nobody is refused.
    assert pair.connect(BYSTANDER, PRIMARY[0]) == "connected" and pair.connect(BOT, PRIMARY[0]) == "connected"
    assert BYSTANDER not in sources(pair.converge(backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_hit_expires(pair, backend):
    pair.converge(backend, spec=dict(SPEC, suppress_time=2, suppress=True))
    assert pair.connect(BOT, TRAP[0]) == "connected"
    assert pair.connect(BOT, PRIMARY[0]) == "reset"
    time.sleep(3.2)
    assert pair.converge(backend, spec=dict(SPEC, suppress_time=2, suppress=True))["hits"] == []
    assert pair.connect(BOT, PRIMARY[0]) == "connected"


@pytest.mark.parametrize("backend", BACKENDS)
def test_suppression_refuses_the_hitter_everywhere_but_spares_exempt_allowlisted_and_local(pair, backend):
    spec = dict(SPEC, suppress=True)
    pair.converge(backend, spec=spec)
    # The first trap connection still reaches the MTA; from then on the hitter is refused on every MX address.
    assert pair.connect(BOT, TRAP[0]) == "connected"
    assert pair.connect(BOT, PRIMARY[0]) == "reset"
    assert pair.connect(BOT, TRAP[0]) == "reset"
    # IPv6 is a source of its own.
    assert pair.connect(BOT6, PRIMARY[1]) == "connected"
    for source in (PARTNER, EXEMPT):
        assert pair.connect(source, TRAP[0]) == "connected"
        assert pair.connect(source, PRIMARY[0]) == "connected"
    # The host itself (probing its own traps) is never recorded.
    assert pair.connect(PRIMARY[0], TRAP[0], namespace=pair.host) == "connected"
    assert pair.connect(PRIMARY[0], PRIMARY[0], namespace=pair.host) == "connected"
    # Someone who never went near a trap still delivers.
    assert pair.connect(BYSTANDER, PRIMARY[0]) == "connected"
    result = pair.converge(backend, spec=spec)
    assert set(sources(result)) == {BOT}
    assert sources(result)[BOT]["hits"] == 2
    assert result["counters"] == {"trap_hits": 2, "suppressed": 2}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_changed_spec_keeps_what_the_trap_remembers(pair, backend):
    pair.converge(backend)
    assert pair.connect(BOT, TRAP[0]) == "connected"
    time.sleep(1.1)
    result = pair.converge(backend, spec=dict(SPEC, suppress=True, suppress_time=600))
    assert result["changed"] is True
    caught = sources(result)[BOT]
    assert caught["hits"] == 1 and caught["last_seen_ago"] >= 1 and 590 <= caught["expires_in"] <= 599
    # Suppression switched on applies to what was recorded before the switch.
    assert pair.connect(BOT, PRIMARY[0]) == "reset"


@pytest.mark.parametrize("backend", BACKENDS)
def test_absent_removes_exactly_what_was_added(pair, backend):
    pair.sh(pair.host, "nft add table inet filter && nft add chain inet filter input '{ type filter hook input priority 0; }'"
                       " && nft add rule inet filter input tcp dport 2525 accept")
    pair.sh(pair.host, "ipset create foreign hash:ip && iptables -A INPUT -p tcp --dport 8080 -j ACCEPT"
                       " && ip6tables -A INPUT -p tcp --dport 8080 -j ACCEPT")
    listing = "nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; ipset save"
    before = pair.sh(pair.host, listing)
    pair.converge(backend, spec=dict(SPEC, suppress=True))
    pair.connect(BOT, TRAP[0])
    assert pair.converge(backend, state="absent")["changed"] is True
    assert pair.converge(backend, state="absent")["changed"] is False
    assert pair.sh(pair.host, listing) == before
    assert pair.connect(BOT, PRIMARY[0]) == "connected"


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_mode_changes_nothing(pair, backend):
    result = pair.converge(backend, check=True)
    assert result["changed"] is True and "mailsec" not in pair.sh(pair.host, "nft list ruleset; ipset list -n")
