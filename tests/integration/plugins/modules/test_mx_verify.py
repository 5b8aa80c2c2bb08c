"""mx_verify against a real BIND on 127.0.0.1 and real port-25 sockets on loopback addresses (root for port 25)."""

import os
import socket
import threading

import pytest

from ansible_collections.mailsec.mx.plugins.modules import mx_verify
from tests.integration.dns import servers
from tests.module_main import run_main

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or servers.missing("bind") is not None, reason="needs root (port 25) and BIND")

ZONE = "example.test."
LAYOUT = [
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["127.0.0.2"]},
    {"preference": 20, "host": "mail.example.test", "addresses": ["127.0.0.3"]},
    {"preference": 30, "host": "backup.other.test"},
]


@pytest.fixture
def bind(tmp_path):
    server = servers.start_bind(tmp_path / "bind", [ZONE])
    yield server
    server.stop()


@pytest.fixture
def live_mx():
    """A greeter on 127.0.0.3:25; nothing listens on 127.0.0.2:25, so it answers with a reset."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.3", 25))
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
    assert checks[("smtp-dead", "nolist.example.test. 127.0.0.2")] == "refused"
    assert checks[("smtp-live", "mail.example.test. 127.0.0.3")] == "greeting"
    assert checks[("resolves", "backup.other.test.")] == "outside the zone"
    assert result["table"][0].split() == ["check", "target", "expected", "observed"]


def test_a_missing_mx_and_a_dead_live_mx_fail_with_what_to_fix(capsys, bind):
    publish(bind, LAYOUT[:2])
    result = run(capsys, bind)
    assert result["failed"] is True
    assert "mx-rrset example.test.: publish the layout" in result["msg"] and "missing: 30 backup.other.test." in result["msg"]
    assert "a live MX refuses connections" in result["msg"]
