"""SMTP probe: greeting and error classification, and probe() against tiny servers on 127.0.0.1 and ::1 only."""

import errno
import socket
import threading

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._smtp import classify_error, classify_greeting, probe
from tests.loopback import closed_port, ipv6_loopback


LOOPBACKS = ["127.0.0.1", pytest.param("::1", marks=pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback"))]


class OneShotServer:
    """Accepts one connection on a loopback address, sends ``greeting`` and records what the client sends back."""

    def __init__(self, address, greeting):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind((address, 0))
        self.listener.listen(1)
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.greeting = greeting
        self.received = b""
        self.peer = None
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        connection, self.peer = self.listener.accept()
        with connection:
            connection.settimeout(5)
            if self.greeting:
                connection.sendall(self.greeting)
                while not self.received.endswith(b"\r\n"):
                    chunk = connection.recv(64)
                    if not chunk:
                        break
                    self.received += chunk

    def close(self):
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def serve():
    servers = []

    def start(greeting, address="127.0.0.1"):
        servers.append(OneShotServer(address, greeting))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


# --- classification ---------------------------------------------------------------------------------

@pytest.mark.parametrize("line, outcome", [
    (b"220 mail.example.test ESMTP\r", "greeting"),
    (b"250 odd but positive", "greeting"),
    (b"421 4.3.2 Service not available", "tempfail_greeting"),
    (b"554 5.7.1 No SMTP service here", "reject_greeting"),
    (b"SSH-2.0-OpenSSH_9.2", "no_greeting"),
    (b"354 go ahead", "no_greeting"),
    (b"22", "no_greeting"),
    (b"", "no_greeting"),
])
def test_classify_greeting(line, outcome):
    assert classify_greeting(line) == outcome


@pytest.mark.parametrize("error, outcome", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "refused"),
    (socket.timeout("timed out"), "timeout"),
    (TimeoutError("timed out"), "timeout"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
    (OSError(errno.EADDRNOTAVAIL, "Cannot assign requested address"), "unreachable"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "no_greeting"),
])
def test_classify_error(error, outcome):
    assert classify_error(error) == outcome


# --- probe on loopback --------------------------------------------------------------------------------

@pytest.mark.parametrize("address", LOOPBACKS)
def test_probe_reads_a_multi_line_greeting_and_says_quit(serve, address):
    server = serve(b"220-first\r\n220 second\r\n", address)
    result = probe(address, server.port, timeout=5)
    server.close()
    assert result["outcome"] == "greeting"
    assert result["greeting"] == "220 second"
    assert (result["address"], result["port"], result["error"]) == (address, server.port, "")
    assert server.received == b"QUIT\r\n"


@pytest.mark.parametrize("greeting, outcome", [
    (b"421 4.3.2 try later\r\n", "tempfail_greeting"),
    (b"554 5.7.1 no service\r\n", "reject_greeting"),
])
def test_probe_reports_refusing_greetings(serve, greeting, outcome):
    server = serve(greeting)
    result = probe("127.0.0.1", server.port, timeout=5)
    assert (result["outcome"], result["greeting"]) == (outcome, greeting.decode().rstrip("\r\n"))


def test_probe_of_a_server_that_closes_at_once(serve):
    server = serve(b"")
    result = probe("127.0.0.1", server.port, timeout=5)
    assert (result["outcome"], result["greeting"], result["error"]) == ("no_greeting", "", "")


@pytest.mark.parametrize("address", LOOPBACKS)
def test_probe_of_a_closed_port_is_refused(address):
    result = probe(address, closed_port(address), timeout=5)
    assert result["outcome"] == "refused"
    assert "Connection refused" in result["error"]
    assert result["greeting"] == ""


def test_probe_of_a_silent_listener_is_no_greeting_not_a_drop():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # the kernel completes the handshake; nobody ever writes
        result = probe("127.0.0.1", listener.getsockname()[1], timeout=0.2)
    assert result["outcome"] == "no_greeting"
    assert "no greeting within 0.2 s" in result["error"]
    assert result["greeting"] == ""
    assert 0.15 <= result["latency"] < 3


def test_probe_binds_the_source_address(serve):
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.2", 0))
    except OSError:
        pytest.skip("127.0.0.2 is not a loopback address here")
    server = serve(b"220 hello\r\n")
    result = probe("127.0.0.1", server.port, timeout=5, source="127.0.0.2")
    server.close()
    assert result["outcome"] == "greeting"
    assert server.peer[0] == "127.0.0.2"


def test_probe_latency_comes_from_the_clock():
    ticks = iter([100.0, 100.123456])
    result = probe("127.0.0.1", closed_port("127.0.0.1"), timeout=5, clock=lambda: next(ticks))
    assert result["latency"] == 0.1235
