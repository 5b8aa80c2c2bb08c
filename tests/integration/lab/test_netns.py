"""lab/netns.py on the real kernel: a throwaway namespace is usable, and nothing of it is left behind."""

import os
import shutil
import subprocess
import sys
import time

import pytest

from lab import netns

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2 (ip)"),
]

ADDRESSES = ["198.51.100.10", "2001:db8:51::10", "198.51.100.200/24"]
# A background process that would keep the namespace alive if nobody stopped it.
LINGERER = "import socket,time\ns=socket.socket();s.bind(('198.51.100.10',2525));s.listen(1)\ntime.sleep(3600)"
# Nothing listens there: a reset ("refused") proves the other side answered.
CONNECT = ("import socket,sys\ns=socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)\n"
           "s.settimeout(30)\ntry: s.connect((sys.argv[1],2525))\nexcept ConnectionRefusedError: print('refused')")


def namespaces():
    return set(os.listdir(netns.NETNS_DIR)) if netns.NETNS_DIR.exists() else set()


def addresses(namespace, device="lo"):
    return namespace.sh("ip -o addr show dev %s | awk '{print $4}'" % device).split()


def linger(namespace):
    """Start LINGERER in the background and wait until it listens (a deadline, not a speed check)."""
    namespace.sh("python3 -c \"%s\" >/dev/null 2>&1 &" % LINGERER)
    deadline = time.monotonic() + 60
    while ":2525" not in namespace.sh("ss -H -l -t -n"):
        assert time.monotonic() < deadline, "the background process never listened"
        time.sleep(0.05)


def test_addresses_commands_and_python_run_inside():
    with netns.Namespace("ittest", addresses=ADDRESSES) as namespace:
        assert namespace.name in namespaces()
        assert {"198.51.100.10/32", "2001:db8:51::10/128", "198.51.100.200/24"} <= set(addresses(namespace))
        assert "UP" in namespace.sh("ip -o link show lo")
        assert namespace.python("import socket; print(socket.gethostname())").returncode == 0
        probe = namespace.run([sys.executable, "-c", "import sys; print(sys.stdin.read()[::-1])"], input="abc")
        assert probe.stdout.strip() == "cba"
        # The machine's own interfaces never see the namespace's addresses.
        assert "198.51.100.200" not in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout


def test_a_failing_script_names_the_namespace_and_the_error():
    with netns.Namespace("ittest") as namespace:
        with pytest.raises(netns.NamespaceError, match=r"in %s: false failed \(1\)" % namespace.name):
            namespace.sh("false")
        assert namespace.sh("false", check=False) == ""


def test_two_linked_namespaces_reach_each_other():
    with netns.Namespace("ittest-a") as left, netns.Namespace("ittest-b") as right:
        left.link(right)
        left.add_addresses(["198.51.100.1/24", "2001:db8:51::1/64"], "eth0")
        right.add_addresses(["198.51.100.2/24", "2001:db8:51::2/64"], "eth0")
        for address in ("198.51.100.1", "2001:db8:51::1"):
            assert right.python(CONNECT, address).stdout.strip() == "refused"


def test_close_stops_every_process_and_leaves_nothing():
    namespace = netns.Namespace("ittest", addresses=ADDRESSES)
    linger(namespace)
    pids = namespace.pids()
    assert pids
    namespace.close()
    assert namespace.name not in namespaces()
    assert not [pid for pid in pids if netns.process_alive(pid)]
    namespace.close()  # a second time is harmless


def test_a_failed_set_up_removes_the_namespace():
    before = namespaces()
    with pytest.raises(netns.NamespaceError, match="198.51.100.10/32"):
        netns.Namespace("ittest", addresses=["198.51.100.10", "198.51.100.10"])
    assert namespaces() == before


def test_a_name_in_use_is_refused_and_left_alone(monkeypatch):
    with netns.Namespace("ittest") as taken:
        monkeypatch.setattr(netns, "unique_name", lambda prefix: taken.name)
        with pytest.raises(netns.NamespaceError, match="exists"):
            netns.Namespace("ittest")
        assert taken.name in namespaces()


def test_an_address_outside_the_documentation_ranges_is_refused_before_it_is_set():
    with pytest.raises(ValueError, match="192.0.2.10"):
        netns.Namespace("ittest", addresses=["192.0.2.10"])
    assert not [name for name in namespaces() if name.startswith("ittest-%d-" % os.getpid())]
