"""mx_verify against a real BIND on 127.0.0.1 and real port-25 sockets on test addresses (root for port 25).

A layout refuses loopback addresses (no sender could reach them), so the MX addresses are documentation addresses
(198.51.100.242-247) on ``lo``. test_mx_verify.py runs this file in a network namespace of its own (``lab.netns``),
so no address is ever added to an interface of the machine; the name keeps pytest from collecting it directly."""

import os
import socket
import subprocess
import threading

import pytest

from ansible_collections.mailsec.mx.plugins.modules import mx_verify
from tests.integration.dns import servers
from tests.module_main import run_main

NAMESPACED = os.environ.get("MAILSEC_MX_VERIFY_NETNS") == "1"

ZONE = "example.test."
DEAD = "198.51.100.242"
LIVE = "198.51.100.243"
A = "198.51.100.244"
B = "198.51.100.245"
C = "198.51.100.246"
SILENT = "198.51.100.247"
LAYOUT = [
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": [DEAD]},
    {"preference": 20, "host": "mail.example.test", "addresses": [LIVE]},
    {"preference": 30, "host": "backup.other.test"},
]


@pytest.fixture(scope="module")
def test_addresses():
    """DEAD .. SILENT as /32 on the namespace's lo; nothing listens on DEAD or SILENT (reset)."""
    assert NAMESPACED, "only ever inside the test's own network namespace"
    added = []
    try:
        for address in (DEAD, LIVE, A, B, C, SILENT):
            subprocess.run(["ip", "address", "add", "%s/32" % address, "dev", "lo"], check=True, capture_output=True)
            added.append(address)
        yield
    finally:
        for address in added:
            subprocess.run(["ip", "address", "del", "%s/32" % address, "dev", "lo"], check=False, capture_output=True)


@pytest.fixture
def bind(tmp_path, test_addresses):
    server = servers.start_bind(tmp_path / "bind", [ZONE])
    yield server
    server.stop()


@pytest.fixture
def live_mx():
    """A greeter on LIVE:25; nothing listens on DEAD:25, so it answers with a reset."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LIVE, 25))
    listener.listen(8)

    def serve():
        while True:
            try:
                connection, dummy = listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"220 mail.example.test ESMTP\r\n")
                connection.recv(64)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield
    # close() alone would leave the port listening while accept() blocks in the thread.
    listener.shutdown(socket.SHUT_RDWR)
    listener.close()
    thread.join(timeout=60)


def publish(server, layout):
    import dns.query
    import dns.update

    update = dns.update.UpdateMessage(ZONE, keyring=server.keyring(), keyname=server.key_name, keyalgorithm="hmac-sha256")
    for record in layout:
        for address in record.get("addresses", ()):
            update.add(record["host"] + ".", 300, "A", address)
    for record in layout:
        update.add(ZONE, 300, "MX", "%d %s." % (record["preference"], record["host"]))
    dns.query.tcp(update, server.address, port=server.port, timeout=30)


def run(capsys, server, layout=None):
    return run_main(mx_verify, capsys, layout=layout or LAYOUT, zone="example.test", nameservers=[server.address],
                    port=server.port, timeout=30)  # a deadline: every answer here comes at once


def test_a_sound_layout_passes(capsys, bind, live_mx):
    publish(bind, LAYOUT)
    result = run(capsys, bind)
    assert result.get("failed") is not True, result.get("msg")
    checks = {(check["check"], check["target"]): check["observed"] for check in result["checks"]}
    assert checks[("smtp-dead", "nolist.example.test. %s" % DEAD)] == "refused"
    assert checks[("smtp-live", "mail.example.test. %s" % LIVE)] == "greeting"
    assert checks[("resolves", "backup.other.test.")] == "outside the zone"
    assert result["table"][0].split() == ["check", "target", "expected", "observed"]


def test_a_missing_mx_and_a_dead_live_mx_fail_with_what_to_fix(capsys, bind):
    publish(bind, LAYOUT[:2])
    result = run(capsys, bind)
    assert result["failed"] is True
    assert "mx-rrset example.test.: publish the layout" in result["msg"] and "missing: 30 backup.other.test." in result["msg"]
    assert "a live MX refuses connections" in result["msg"]


@pytest.fixture
def greeters():
    """Greeters on port 25 of A, B and C; ``order`` lists the addresses in the order they were connected to.

    The address is recorded before the greeting is sent, and a probe waits for the greeting before the next one,
    so ``order`` is the probes' order."""
    order = []
    listeners = []
    for address in (A, B, C):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, 25))
        listener.listen(8)
        listeners.append(listener)

    def serve(listener):
        while True:
            try:
                connection, dummy = listener.accept()
            except OSError:
                return
            with connection:
                order.append(listener.getsockname()[0])
                connection.sendall(b"220 mail.example.test ESMTP\r\n")
                connection.recv(64)

    threads = [threading.Thread(target=serve, args=(listener,), daemon=True) for listener in listeners]
    for thread in threads:
        thread.start()
    yield order
    for listener in listeners:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
    for thread in threads:
        thread.join(timeout=5)


def test_probes_follow_mx_order_and_layout_order_never_a_trap_first(capsys, bind, greeters):
    # The trap is listed first and its address sorts first; the primary's addresses are listed out of sorted order.
    layout = [
        {"preference": 90, "host": "trap.example.test", "role": "trap", "addresses": [A]},
        {"preference": 20, "host": "mail.example.test", "addresses": [C, B]},
        {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": [DEAD]},
    ]
    publish(bind, layout)
    result = run(capsys, bind, layout)
    assert result.get("failed") is not True, result.get("msg")
    assert greeters == [C, B, A]
    probes = [check["target"] for check in result["checks"] if check["check"].startswith("smtp-")]
    assert probes == ["nolist.example.test. %s" % DEAD, "mail.example.test. %s" % C, "mail.example.test. %s" % B,
                      "trap.example.test. %s" % A]


def test_a_trap_is_not_probed_when_the_primary_does_not_answer(capsys, bind, greeters):
    layout = [
        {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": [DEAD]},
        {"preference": 20, "host": "mail.example.test", "addresses": [SILENT]},  # nothing listens: reset
        {"preference": 90, "host": "trap.example.test", "role": "trap", "addresses": [A]},
    ]
    publish(bind, layout)
    result = run(capsys, bind, layout)
    assert result["failed"] is True
    assert greeters == []
    checks = {(check["check"], check["target"]): check["observed"] for check in result["checks"]}
    assert checks[("smtp-live", "mail.example.test. %s" % SILENT)] == "refused"
    assert checks[("smtp-trap", "trap.example.test. %s" % A)] == "not probed"
