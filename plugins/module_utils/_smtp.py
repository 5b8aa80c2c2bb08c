# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe an SMTP port the way a sending MTA first meets it: connect, read the greeting, QUIT.

No mail is ever sent.  The outcome names what a sender experiences:
``greeting`` (2xx), ``tempfail_greeting`` (4xx), ``reject_greeting`` (5xx),
``no_greeting`` (closed or silent after connecting), ``refused`` (TCP reset:
what a nolisting dead primary must answer), ``timeout`` (a silent drop or no
such host) and ``unreachable`` (no route).

A hostile or broken peer can neither stall nor balloon a probe: one deadline
covers the connection and the whole greeting (a peer trickling a byte at a
time cannot reset it, as it could a per-recv timeout), and at most
``MAX_GREETING`` + 1 octets are ever read.  Such a peer is classified as
``slow_greeting`` (it started a greeting but did not finish it in time) or
``oversized`` (a reply line longer than RFC 5321 allows, or a greeting longer
than ``MAX_GREETING`` in all).
"""

from __future__ import annotations

import errno
import socket
import time

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}
# RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, CRLF included.
MAX_LINE = 512
# A multi-line greeting, every line together; real MTAs send one line, or a few.
MAX_GREETING = 4096
_CHUNK = 4096
# The deadline's clock; probe()'s ``clock`` only measures the latency it reports.
_now = time.monotonic


class _Stop(Exception):
    """The greeting read stops early: ``outcome`` and ``error`` say why, ``data`` is what was read."""

    def __init__(self, outcome, error, data):
        super().__init__(error)
        self.outcome = outcome
        self.error = error
        self.data = data


def classify_greeting(line):
    """The outcome of a greeting line (b'' when the server closed without one)."""
    code = line[:3]
    if len(code) == 3 and code.isdigit():
        return {b"2": "greeting", b"4": "tempfail_greeting", b"5": "reject_greeting"}.get(code[:1], "no_greeting")
    return "no_greeting"


def classify_error(error):
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timeout"
    if isinstance(error, ConnectionRefusedError) or getattr(error, "errno", None) == errno.ECONNREFUSED:
        return "refused"
    if getattr(error, "errno", None) in _UNREACHABLE:
        return "unreachable"
    if isinstance(error, ConnectionResetError):
        return "no_greeting"
    return "unreachable"


def printable(data):
    """Received octets as one line of text: control characters and invalid UTF-8 escaped, never raw."""
    text = data.decode("utf-8", "backslashreplace").rstrip("\r\n")
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


def probe(address, port=25, timeout=5.0, source=None, clock=time.monotonic):
    """Connect to ``address``:``port``; return {address, port, outcome, greeting, latency, error, received}.

    ``timeout`` is one deadline for the connection and the whole greeting together.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    result = {"address": address, "port": port, "outcome": None, "greeting": "", "latency": None, "error": "", "received": 0}
    start = clock()
    deadline = _now() + timeout
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        try:
            if source:
                connection.bind((source, 0))
            connection.connect((address, port))
        except OSError as error:
            result.update(outcome=classify_error(error), error=str(error))
        else:
            result.update(_greet(connection, timeout, deadline))
    result["latency"] = round(clock() - start, 4)
    return result


def _greet(connection, timeout, deadline):
    """Outcome, greeting, error and octets received once connected."""
    try:
        line, received = _read_greeting(connection, timeout, deadline)
    except _Stop as stop:
        # Show where it went wrong, never more than one reply line of it.
        return {"outcome": stop.outcome, "error": stop.error, "greeting": printable(stop.data[:MAX_LINE].split(b"\n")[0]),
                "received": len(stop.data)}
    except OSError as error:
        return {"outcome": classify_error(error), "error": str(error)}
    if line:
        try:
            connection.sendall(b"QUIT\r\n")
        except OSError:
            pass
    return {"outcome": classify_greeting(line), "greeting": printable(line), "received": received}


def _read_greeting(connection, timeout, deadline):
    """(the last line of a possibly multi-line greeting or b'' if none came, octets read); raises _Stop.

    Reads at most MAX_GREETING + 1 octets, and nothing after ``deadline``.
    """
    data = b""
    while True:
        remaining = deadline - _now()
        if remaining <= 0:
            raise _deadline(data, timeout)
        connection.settimeout(remaining)
        try:
            chunk = connection.recv(min(_CHUNK, MAX_GREETING + 1 - len(data)))
        except (socket.timeout, TimeoutError):
            raise _deadline(data, timeout) from None
        if not chunk:
            return (data.splitlines()[-1] if data.strip() else b""), len(data)
        data += chunk
        lines = data.split(b"\n")
        if any(len(line) + 1 > MAX_LINE for line in lines[:-1]) or len(lines[-1]) >= MAX_LINE:
            raise _Stop("oversized", "a greeting line longer than %d octets (RFC 5321 4.5.3.1.5)" % MAX_LINE, data)
        complete = [line for line in lines[:-1] if line.strip()]
        # '220-' continues a multi-line greeting; '220 ' ends it.
        if complete and (len(complete[-1]) < 4 or complete[-1][3:4] != b"-"):
            return complete[-1], len(data)
        if len(data) > MAX_GREETING:
            raise _Stop("oversized", "a greeting longer than %d octets in all" % MAX_GREETING, data)


def _deadline(data, timeout):
    if not data:
        # Connected, then silence: unlike a silent drop, something listens there.
        return _Stop("no_greeting", "no greeting within %s s" % timeout, data)
    return _Stop("slow_greeting", "the greeting was not complete within %s s (%d octets received)" % (timeout, len(data)), data)
