"""SMTP probe: greeting and error classification, and probe() against tiny servers on 127.0.0.1 and ::1 only."""

import errno
import socket
import threading

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _smtp
from ansible_collections.mailsec.mx.plugins.module_utils._smtp import MAX_GREETING, MAX_LINE, classify_error, classify_greeting, printable, probe
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
    assert (result["greeting"], result["received"]) == ("", 0)


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


# --- hostile peers: bounded in time and in size -----------------------------------------------------

class HostileServer:
    """Accepts one connection on 127.0.0.1 and runs ``behave(send)`` until it returns, the client goes away or the test ends.

    ``send(data)`` returns False once the client has closed; ``sent`` counts the octets the kernel took.
    """

    def __init__(self, behave):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(30)
        self.port = self.listener.getsockname()[1]
        self.behave = behave
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            connection, dummy = self.listener.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(30)

            def send(data):
                if self.stop.is_set():
                    return False
                try:
                    connection.sendall(data)
                except OSError:
                    return False
                self.sent += len(data)
                return True

            self.behave(send, self.stop)

    def close(self):
        self.stop.set()
        self.thread.join(60)
        self.listener.close()


@pytest.fixture
def hostile():
    servers = []

    def start(behave):
        servers.append(HostileServer(behave))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def trickle(data, interval=0.05, seconds=60):
    """Send ``data`` one octet at a time, an octet every ``interval`` s, for up to ``seconds`` (far longer than any deadline here)."""
    def behave(send, stop):
        for count, octet in enumerate(data * (1 + int(seconds / interval) // len(data))):
            if count * interval >= seconds or not send(bytes([octet])) or stop.wait(interval):
                return
    return behave


def flood(line, total=8 * 1024 * 1024):
    """Send ``line`` over and over, ``total`` octets in all (megabytes)."""
    def behave(send, stop):
        block = line * (65536 // len(line) + 1)
        sent = 0
        while sent < total and send(block):
            sent += len(block)
    return behave


def test_a_trickling_greeting_cannot_stall_the_probe(hostile):
    # A byte every 50 ms would reset a per-recv timeout forever; the probe's one deadline still ends it.
    server = hostile(trickle(b"220 mail.example.test ESMTP " + b"x" * 400 + b"\r\n"))
    result = probe("127.0.0.1", server.port, timeout=1)
    assert result["outcome"] == "slow_greeting"
    assert result["error"].startswith("the greeting was not complete within 1 s (")
    assert 0 < result["received"] < 400
    assert result["greeting"].startswith("220 mail")


def test_a_trickled_multi_line_greeting_cannot_stall_the_probe(hostile):
    server = hostile(trickle(b"220-mail.example.test\r\n"))
    result = probe("127.0.0.1", server.port, timeout=1)
    assert result["outcome"] == "slow_greeting"
    assert 0 < result["received"] <= MAX_GREETING


@pytest.mark.parametrize("line", [b"220-mail.example.test ESMTP\r\n", b"220-\n"], ids=["crlf", "bare-lf"])
def test_megabytes_of_continuation_lines_are_oversized_and_read_bounded(hostile, line):
    server = hostile(flood(line))
    result = probe("127.0.0.1", server.port, timeout=20)
    assert result["outcome"] == "oversized"
    assert result["error"] == "a greeting longer than %d octets in all" % MAX_GREETING
    assert MAX_GREETING < result["received"] <= MAX_GREETING + 1
    assert result["greeting"] == printable(line)


@pytest.mark.parametrize("start", [b"220 ", b"", b"\x00\xff"], ids=["greeting", "bare", "binary"])
def test_a_line_that_never_ends_is_oversized_and_read_bounded(hostile, start):
    server = hostile(flood(start + b"A" * 1024))
    result = probe("127.0.0.1", server.port, timeout=20)
    assert result["outcome"] == "oversized"
    assert result["error"] == "a greeting line longer than %d octets (RFC 5321 4.5.3.1.5)" % MAX_LINE
    assert MAX_LINE <= result["received"] <= MAX_GREETING + 1
    assert len(result["greeting"]) <= 4 * MAX_LINE  # one line's worth, escaped


def test_a_reply_line_of_512_octets_is_a_greeting_513_is_oversized(serve):
    longest = b"220 " + b"x" * (MAX_LINE - 6) + b"\r\n"
    assert len(longest) == MAX_LINE
    server = serve(longest)
    assert probe("127.0.0.1", server.port, timeout=5)["outcome"] == "greeting"
    server = serve(b"220 x" + longest[4:])
    result = probe("127.0.0.1", server.port, timeout=5)
    assert (result["outcome"], result["received"]) == ("oversized", MAX_LINE + 1)


def test_a_multi_line_greeting_within_the_limits_is_read(serve):
    lines = [b"220-%s\r\n" % (b"%d" % number * 100)[:500] for number in range(6)] + [b"220 done\r\n"]
    server = serve(b"".join(lines))
    result = probe("127.0.0.1", server.port, timeout=5)
    server.close()
    assert (result["outcome"], result["greeting"], result["received"]) == ("greeting", "220 done", len(b"".join(lines)))
    assert server.received == b"QUIT\r\n"


def test_control_characters_in_a_greeting_are_escaped(serve):
    server = serve(b"220 evil\x1b[2J\x00\xff host\r\n")
    result = probe("127.0.0.1", server.port, timeout=5)
    assert result["outcome"] == "greeting"
    assert result["greeting"] == "220 evil\\x1b[2J\\x00\\xff host"


def test_the_deadline_covers_connection_and_greeting_together(monkeypatch):
    # The deadline's clock jumps past the deadline once connected: no greeting is waited for at all.
    ticks = iter([1000.0, 1000.0 + 5.0])
    monkeypatch.setattr(_smtp, "_now", lambda: next(ticks))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        result = probe("127.0.0.1", listener.getsockname()[1], timeout=5)
    assert (result["outcome"], result["error"]) == ("no_greeting", "no greeting within 5 s")
