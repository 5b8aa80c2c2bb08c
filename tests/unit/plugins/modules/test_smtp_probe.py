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
