"""lab.matrix.greeter: every client is turned away with 421 at the greeting (on the loopback, no root needed)."""

import socket
import threading

import pytest

from lab.matrix import greeter


@pytest.fixture
def listener():
    listening = greeter.listen("127.0.0.1", port=0)
    threading.Thread(target=greeter.serve, args=(listening,), daemon=True).start()
    yield listening
    listening.close()


def greeting(address):
    with socket.create_connection(address, timeout=30) as client:  # a deadline, not a speed check
        return client.recv(100)


def test_every_client_gets_421_at_the_greeting(listener):
    address = listener.getsockname()
    assert [greeting(address) for attempt in range(3)] == [b"421 4.3.2 overloaded, try again later\r\n"] * 3


def test_without_addresses_it_says_how_to_run_it(capsys):
    assert greeter.main([]) == 2
    assert "python3 -m lab.matrix.greeter ADDRESS" in capsys.readouterr().err
