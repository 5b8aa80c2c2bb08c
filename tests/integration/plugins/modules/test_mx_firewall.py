"""The firewall modules (dead_primary_firewall, run through main()) against real nftables / iptables + ipset, each test in a fresh network namespace."""

import json
import os
import pathlib
import shutil
import sys

import pytest

from lab import netns as lab_netns

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nftables"),
]

DRIVER = pathlib.Path(__file__).with_name("firewall_driver.py")
DEAD = ["198.51.100.10", "2001:db8:51::10"]
SPEC = {"addresses": DEAD, "allow": ["198.51.100.128/26", "2001:db8:5::/48"]}


class Namespace(lab_netns.Namespace):
    """The dead primary's addresses on lo, and sources of our own for the packet tests: one allowlisted, one not."""

    def __init__(self):
        super().__init__("mxfw", addresses=DEAD + ["198.51.100.130/32", "198.51.100.200/32"])

    def converge(self, backend, state="present", spec=None, check=False):
        request = {"backend": backend, "state": state, "spec": spec or SPEC, "check": check}
        result = self.run([sys.executable, str(DRIVER)], input=json.dumps(request))
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def connect(self, source, address=DEAD[0], timeout=30):
        """What a client from ``source`` meets. A deadline, not a speed check: only a drop ever uses it up."""
        code = (
            "import socket\ns=socket.socket();s.settimeout(%d);s.bind(('%s',0))\n"
            "try:\n  s.connect(('%s',25));print('connected')\n"
            "except ConnectionRefusedError: print('reset')\n"
            "except OSError as e: print(type(e).__name__)\n" % (timeout, source, address)
        )
        return self.run([sys.executable, "-c", code], check=True).stdout.strip()


@pytest.fixture
def netns():
    with Namespace() as namespace:
        yield namespace


def listen(netns):
    """A listener on port 25 of the namespace, so 'let through' shows as a connection."""
    netns.sh("python3 -c 'import socket,os\n"
             "s=socket.socket();s.bind((\"0.0.0.0\",25));s.listen(64)\n"
             "os.fork() and os._exit(0)\n"
             "while True: s.accept()[0].close()' >/dev/null 2>&1 &")


BACKENDS = ["nftables", "iptables"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_converge_is_idempotent_and_resets_strangers(netns, backend):
    listen(netns)
    assert netns.converge(backend)["changed"] is True
    assert netns.converge(backend)["changed"] is False
    assert netns.connect("198.51.100.200") == "reset"
    assert netns.connect("198.51.100.130") == "connected"


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_mode_changes_nothing(netns, backend):
    result = netns.converge(backend, check=True)
    assert result["changed"] is True and result["diff"]["before"] == ""
    assert "mailsec" not in netns.sh("nft list ruleset; iptables -S; ipset list -n")
    netns.converge(backend)
    grown = dict(SPEC, allow=SPEC["allow"] + ["198.51.100.99"])
    assert netns.converge(backend, spec=grown, check=True)["changed"] is True
    assert netns.converge(backend)["changed"] is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_edits_are_detected_and_undone(netns, backend):
    netns.converge(backend)
    if backend == "nftables":
        netns.sh("nft delete element inet mailsec_dead_primary allow4 '{ 198.51.100.128/26 }'")
        netns.sh("nft add rule inet mailsec_dead_primary input tcp dport 26 accept")
    else:
        netns.sh("ipset del mailsec_dead_primary_a4 198.51.100.128/26")
        netns.sh("iptables -A MAILSEC_DEAD_PRIMARY -p tcp --dport 26 -j ACCEPT")
    result = netns.converge(backend)
    assert result["changed"] is True
    assert "198.51.100.128/26" in result["diff"]["after"] and "198.51.100.128/26" not in result["diff"]["before"]
    assert netns.converge(backend)["changed"] is False


@pytest.mark.parametrize("backend", BACKENDS)
def test_foreign_rules_stay_and_absent_removes_exactly_ours(netns, backend):
    netns.sh("nft add table inet filter && nft add chain inet filter input '{ type filter hook input priority 0; }'"
             " && nft add rule inet filter input tcp dport 2525 accept")
    # With iptables-nft, our first ip6tables call would create an empty 'ip6 filter' table that stays after
    # removal (empty, policy ACCEPT: the same behaviour); foreign ip6tables rules make it exist beforehand.
    netns.sh("ipset create foreign hash:ip && iptables -N DOCKER-USER && iptables -A INPUT -p tcp --dport 8080 -j DOCKER-USER"
             " && ip6tables -A INPUT -p tcp --dport 8080 -j ACCEPT")
    before = netns.sh("nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; ipset save")
    netns.converge(backend)
    assert netns.converge(backend, state="absent")["changed"] is True
    assert netns.converge(backend, state="absent")["changed"] is False
    after = netns.sh("nft -s list ruleset; iptables-save | grep -v '^#' | sed 's/\\[[0-9]*:[0-9]*\\]//'; ipset save")
    assert after == before


@pytest.mark.parametrize("backend", BACKENDS)
def test_drop_and_more_ports(netns, backend):
    spec = dict(SPEC, action="drop", ports=[25, 587])
    netns.converge(backend, spec=spec)
    # Dropped: no answer ever comes, so any wait ends in a timeout; a short one keeps the test quick.
    assert netns.connect("198.51.100.200", timeout=2) == "TimeoutError"
    assert netns.converge(backend, spec=spec)["changed"] is False


def test_nftables_counters_survive_a_change(netns):
    netns.converge("nftables")
    assert [netns.connect("198.51.100.200") for attempt in range(3)] == ["reset"] * 3
    assert netns.converge("nftables")["counters"]["refused"] == 3
    grown = dict(SPEC, allow=SPEC["allow"] + ["198.51.100.99"])
    assert netns.converge("nftables", spec=grown)["changed"] is True
    assert netns.converge("nftables", spec=grown)["counters"]["refused"] == 3


def test_ipset_grows_past_its_size_by_swapping(netns):
    small = dict(SPEC, allow=["198.51.100.128/26"])
    netns.converge("iptables", spec=small)
    # 40,000 entries need maxelem 131072: a new set is filled and swapped in.
    many = ["%d.%d.%d.0/24" % (20 + i // 65536, (i // 256) % 256, i % 256) for i in range(0, 80000, 2)]
    large = dict(SPEC, allow=many)
    assert netns.converge("iptables", spec=large)["changed"] is True
    assert "maxelem 131072" in netns.sh("ipset list mailsec_dead_primary_a4 | head -5")
    assert netns.converge("iptables", spec=large)["changed"] is False
    assert "mailsec_dead_primary_a4n" not in netns.sh("ipset list -n")
