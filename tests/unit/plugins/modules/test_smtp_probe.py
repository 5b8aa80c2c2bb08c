"""The smtp_probe module run through main(), against loopback only."""

import socket
import threading

import pytest

from ansible_collections.mailsec.mx.plugins.modules import smtp_probe
from tests.module_main import run_main
from tests.loopback import closed_port, ipv6_loopback


def run_module(capsys, **args):
    return run_main(smtp_probe, capsys, **args)


def greet_once(listener):
    connection, dummy = listener.accept()
    with connection:
        connection.settimeout(5)
        connection.sendall(b"220 mx.example.test ESMTP\r\n")
        connection.recv(64)


def test_a_refused_port_is_reported_per_address(capsys):
    port = closed_port()
    result = run_module(capsys, addresses=["127.0.0.1"], port=port, timeout=2)
    assert result["changed"] is False
    assert result["outcomes"] == {"127.0.0.1": "refused"}
    [probed] = result["results"]
    assert (probed["address"], probed["port"], probed["outcome"], probed["greeting"]) == ("127.0.0.1", port, "refused", "")
    assert isinstance(probed["latency"], float)


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_outcomes_per_address_in_order(capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(5)
        port = listener.getsockname()[1]
        server = threading.Thread(target=greet_once, args=(listener,), daemon=True)
        server.start()
        result = run_module(capsys, addresses=["::1", "127.0.0.1"], port=port, timeout=2)
        server.join(5)
    assert result["outcomes"] == {"::1": "refused", "127.0.0.1": "greeting"}
    assert [probed["address"] for probed in result["results"]] == ["::1", "127.0.0.1"]
    assert result["results"][1]["greeting"] == "220 mx.example.test ESMTP"


def test_check_mode_still_probes(capsys):
    result = run_module(capsys, addresses=["127.0.0.1"], port=closed_port(), timeout=2, _ansible_check_mode=True)
    assert result["outcomes"] == {"127.0.0.1": "refused"}


def test_addresses_are_required(capsys):
    result = run_module(capsys, port=25)
    assert result["failed"] is True and "addresses" in result["msg"]


# --- an orderly sender: one address after the other, in the order given ----------------------------------------

class Greeters:
    """A greeter on port ``port`` of each of ``addresses``; ``accepted`` lists the addresses in the order they were reached.

    The address is recorded before the greeting goes out, and the probe waits for the greeting before it moves on,
    so the list is the probe's order, whatever the threads' scheduling.
    """

    def __init__(self, addresses):
        self.accepted = []
        self.listeners = []
        port = 0
        for address in addresses:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                listener.bind((address, port))
            except OSError:
                listener.close()
                self.close()
                pytest.skip("cannot bind %s:%d here" % (address, port))
            listener.listen(1)
            listener.settimeout(30)
            port = listener.getsockname()[1]
            self.listeners.append(listener)
        self.port = port
        self.threads = [threading.Thread(target=self._serve, args=(listener,), daemon=True) for listener in self.listeners]
        for thread in self.threads:
            thread.start()

    def _serve(self, listener):
        try:
            connection, dummy = listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(30)
            self.accepted.append(listener.getsockname()[0])
            connection.sendall(b"220 mx.example.test ESMTP\r\n")
            connection.recv(64)

    def close(self):
        for thread in getattr(self, "threads", ()):
            thread.join(30)
        for listener in self.listeners:
            listener.close()


def test_addresses_are_probed_one_after_the_other_in_the_order_given(capsys):
    order = ["127.0.0.4", "127.0.0.2", "127.0.0.3", "127.0.0.1"]
    greeters = Greeters(order)
    try:
        result = run_module(capsys, addresses=order, port=greeters.port, timeout=10)
    finally:
        greeters.close()
    assert greeters.accepted == order
    assert [probed["address"] for probed in result["results"]] == order
    assert set(result["outcomes"].values()) == {"greeting"}


def test_never_two_probes_at_once(capsys, monkeypatch):
    events = []

    def fake_probe(address, port, timeout, source):
        events.append(("start", address))
        events.append(("end", address))
        return {"address": address, "port": port, "outcome": "refused", "greeting": "", "latency": 0.0, "error": "", "received": 0}

    monkeypatch.setattr(smtp_probe, "probe", fake_probe)
    run_module(capsys, addresses=["192.0.2.1", "192.0.2.2", "2001:db8::1"], timeout=1)
    assert events == [(kind, address) for address in ["192.0.2.1", "192.0.2.2", "2001:db8::1"] for kind in ("start", "end")]


def test_a_hostile_peer_is_reported_not_waited_for(capsys):
    # The greeting never ends its line: oversized, with the octets read bounded.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(30)
        port = listener.getsockname()[1]

        def flood():
            connection, dummy = listener.accept()
            with connection:
                try:
                    for _block in range(128):
                        connection.sendall(b"220 " + b"A" * 65536)
                except OSError:
                    return

        server = threading.Thread(target=flood, daemon=True)
        server.start()
        result = run_module(capsys, addresses=["127.0.0.1"], port=port, timeout=20)
        server.join(30)
    assert result["outcomes"] == {"127.0.0.1": "oversized"}
    assert result["results"][0]["received"] <= 4097
