"""A minimal SMTP greeter for the lab: greets 220, answers QUIT, never accepts mail.

Runs as a daemon inside a namespace host: python3 smtp_listener.py PIDFILE [PORT]
"""

import os
import socket
import socketserver
import sys


class Greeter(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"220 %s ESMTP mailsec-lab-listener\r\n" % socket.gethostname().encode())
        for line in self.rfile:
            if line.strip().upper() == b"QUIT":
                self.wfile.write(b"221 2.0.0 bye\r\n")
                return
            self.wfile.write(b"502 5.5.2 this listener only greets\r\n")


class DualStackServer(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def daemonize(pidfile):
    if os.fork():
        os._exit(0)
    os.setsid()
    if os.fork():
        os._exit(0)
    with open(pidfile, "w", encoding="ascii") as handle:
        handle.write("%d\n" % os.getpid())
    devnull = os.open(os.devnull, os.O_RDWR)
    for descriptor in (0, 1, 2):
        os.dup2(devnull, descriptor)


def main():
    pidfile = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 25
    server = DualStackServer(("::", port), Greeter)
    daemonize(pidfile)
    server.serve_forever()


if __name__ == "__main__":
    main()
