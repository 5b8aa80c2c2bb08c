"""An MX that turns every client away at the greeting with `421`, as an overloaded or greylisting MX does.

    python3 -m lab.matrix.greeter ADDRESS...     (in a lab host, with the repository root on PYTHONPATH)

Listens on port 25 of every ADDRESS, answers each connection with the 421 line and closes it, until
it is killed. The matrix starts it on mx1's own addresses and on mx2 for the walk past the trap host
(matrix.start_greeters), right after their Postfix let go of port 25. Stdlib only.
"""

from __future__ import annotations

import socket
import sys
import threading
import time

REPLY = b"421 4.3.2 overloaded, try again later\r\n"
PORT = 25
# The MTA that held the port may take a moment to let go: a deadline for a busy machine, not a speed check.
BIND_ATTEMPTS = 600
BIND_PAUSE = 0.2


def listen(address: str, port: int = PORT) -> socket.socket:
    """A listening socket on `address`, retrying while the port is still taken."""
    listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    for attempt in range(BIND_ATTEMPTS):
        try:
            listener.bind((address, port))
            break
        except OSError:
            if attempt == BIND_ATTEMPTS - 1:
                raise
            time.sleep(BIND_PAUSE)
    listener.listen(64)
    return listener


def serve(listener: socket.socket) -> None:
    """Greet every client with REPLY and hang up, forever."""
    while True:
        connection = listener.accept()[0]
        try:
            connection.sendall(REPLY)
        except OSError:
            pass  # the client left first: nothing to tell it
        connection.close()


def main(argv: list[str] | None = None) -> int:
    addresses = sys.argv[1:] if argv is None else argv
    if not addresses:
        print("usage: python3 -m lab.matrix.greeter ADDRESS...", file=sys.stderr)
        return 2
    # Every address listens before any is served, so a caller that waits for all of them sees a complete set.
    threads = [threading.Thread(target=serve, args=(listen(address),), daemon=True) for address in addresses]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
