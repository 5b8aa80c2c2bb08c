# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Probe an SMTP port the way a sending MTA first meets it: connect, read the greeting, QUIT.

No mail is ever sent.  The outcome names what a sender experiences:
``greeting`` (2xx), ``tempfail_greeting`` (4xx), ``reject_greeting`` (5xx),
``no_greeting`` (closed or silent after connecting), ``refused`` (TCP reset:
what a nolisting dead primary must answer), ``timeout`` (a silent drop or no
such host) and ``unreachable`` (no route).
"""

from __future__ import annotations

import errno
import socket
import time

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT}


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


def probe(address, port=25, timeout=5.0, source=None, clock=time.monotonic):
    """Connect to ``address``:``port``; return {address, port, outcome, greeting, latency, error}."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    result = {"address": address, "port": port, "outcome": None, "greeting": "", "latency": None, "error": ""}
    start = clock()
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        try:
            if source:
                connection.bind((source, 0))
            connection.connect((address, port))
        except OSError as error:
            result.update(outcome=classify_error(error), error=str(error))
        else:
            result.update(_greet(connection, timeout))
    result["latency"] = round(clock() - start, 4)
    return result


def _greet(connection, timeout):
    """Outcome, greeting and error once connected."""
    try:
        line = _read_greeting(connection)
    except (socket.timeout, TimeoutError):
        # Connected, then silence: unlike a silent drop, something listens there.
        return {"outcome": "no_greeting", "error": "no greeting within %s s" % timeout}
    except OSError as error:
        return {"outcome": classify_error(error), "error": str(error)}
    if line:
        try:
            connection.sendall(b"QUIT\r\n")
        except OSError:
            pass
    return {"outcome": classify_greeting(line), "greeting": line.decode("utf-8", "replace").rstrip("\r\n")}


def _read_greeting(connection):
    """The last line of a (possibly multi-line) greeting, b'' if none came."""
    data = b""
    while True:
        chunk = connection.recv(4096)
        if not chunk:
            return data.splitlines()[-1] if data else b""
        data += chunk
        lines = data.split(b"\n")
        complete = [line for line in lines[:-1] if line]
        # '220-' continues a multi-line greeting; '220 ' ends it.
        if complete and (len(complete[-1]) < 4 or complete[-1][3:4] != b"-"):
            return complete[-1]
