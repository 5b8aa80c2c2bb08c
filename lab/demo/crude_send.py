"""A crude sender: one message to the LOWEST-preference MX only, the way spam bots do.

Looks up the domain's MX with `dig` (through /etc/resolv.conf), takes the record with the
lowest preference (`--pick highest`: the highest, as spam bots that hope for a weakly
filtered backup MX do; `--pick first`: the first of the DNS answer, as many application
mailers do; `--host NAME`: that host, no MX lookup), and tries its addresses
(IPv4 first) with smtplib. It never falls back to another MX and never retries later.

Prints one line per step and a last line `RESULT delivered ...`, `RESULT refused ...` or
`RESULT failed ...`. Exit code: 0 delivered, 1 refused (connection refused on every
address: the nolisting dead primary's reset), 2 any other failure (DNS, timeout, SMTP error).

Stdlib only (plus the `dig` command); runs in a lab host with /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import email.utils
import smtplib
import socket
import subprocess
import sys
import time


def pick_mx(domain: str, pick: str = "lowest") -> tuple[int, str]:
    out = subprocess.run(
        ["dig", "+short", "+time=2", "+tries=2", domain, "MX"],
        capture_output=True, text=True, check=False,
    )
    records = []
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            records.append((int(parts[0]), parts[1].rstrip(".")))
    if not records:
        raise LookupError(f"no MX record for {domain} ({(out.stderr or out.stdout).strip() or 'empty answer'})")
    if pick == "first":
        # As many application mailers do: the first record of the answer, whatever its preference.
        return records[0]
    return max(records) if pick == "highest" else min(records)


def addresses_of(host: str, families=(socket.AF_INET, socket.AF_INET6)) -> list[str]:
    found = []
    for family in families:
        try:
            infos = socket.getaddrinfo(host, 25, family, socket.SOCK_STREAM)
        except socket.gaierror:
            continue
        for info in infos:
            if info[4][0] not in found:
                found.append(info[4][0])
    return found


def message(sender: str, rcpt: str, message_id: str, tag: str) -> str:
    return (
        f"From: {sender}\r\n"
        f"To: {rcpt}\r\n"
        f"Subject: crude sender test {tag}\r\n"
        f"Date: {email.utils.formatdate(localtime=True)}\r\n"
        f"Message-ID: <{message_id}>\r\n"
        f"X-Demo-Id: {tag}\r\n"
        "\r\n"
        f"Sent by lab/demo/crude_send.py from {socket.gethostname()}, to one MX only.\r\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", default="example.test")
    parser.add_argument("--rcpt", default="demo@example.test")
    parser.add_argument("--from", dest="sender", default=None, help="default: crude@<hostname>.lab.test")
    parser.add_argument("--id", dest="tag", default=None, help="value of the X-Demo-Id header")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per connection and SMTP reply, a deadline (default 60; a reset or a reply comes at once)")
    parser.add_argument("--pick", choices=["lowest", "highest", "first"], default="lowest",
                        help="which MX to go for (first: the first of the DNS answer)")
    parser.add_argument("--host", default=None, help="send to this host instead of an MX")
    parser.add_argument("--ipv4-only", action="store_true", help="as many bots: never try IPv6")
    parser.add_argument("--ipv6-only", action="store_true", help="only ever try IPv6")
    args = parser.parse_args()

    hostname = socket.gethostname()
    sender = args.sender or f"crude@{hostname}.lab.test"
    tag = args.tag or f"crude-{hostname}-{int(time.time())}"
    families = (socket.AF_INET,) if args.ipv4_only else (socket.AF_INET6,) if args.ipv6_only else (socket.AF_INET, socket.AF_INET6)
    if args.host:
        mx = args.host
        addresses = addresses_of(mx, families)
        print(f"crude_send: straight to {mx} ({', '.join(addresses) or 'no address'})")
    else:
        try:
            preference, mx = pick_mx(args.domain, args.pick)
        except LookupError as error:
            print(f"crude_send: {error}")
            print("RESULT failed dns")
            return 2
        addresses = addresses_of(mx, families)
        print(f"crude_send: {args.pick} MX of {args.domain}: {preference} {mx} ({', '.join(addresses) or 'no address'})")
    if not addresses:
        print("RESULT failed no-address")
        return 2

    refused = 0
    for address in addresses:
        started = time.monotonic()
        try:
            with smtplib.SMTP(local_hostname=f"{hostname}.lab.test", timeout=args.timeout) as smtp:
                code, banner = smtp.connect(address, 25)
                print(f"crude_send: {address} port 25: connected ({time.monotonic() - started:.3f} s): {code} {banner.decode(errors='replace')}")
                smtp.ehlo_or_helo_if_needed()
                code, reply = smtp.mail(sender)
                if code != 250:
                    raise smtplib.SMTPResponseException(code, f"MAIL FROM: {reply.decode(errors='replace')}")
                code, reply = smtp.rcpt(args.rcpt)
                if code not in (250, 251):
                    raise smtplib.SMTPResponseException(code, f"RCPT TO: {reply.decode(errors='replace')}")
                code, reply = smtp.data(message(sender, args.rcpt, f"{tag}@{hostname}.lab.test", tag))
                if code != 250:
                    raise smtplib.SMTPResponseException(code, f"DATA: {reply.decode(errors='replace')}")
        except ConnectionRefusedError:
            refused += 1
            print(f"crude_send: {address} port 25: connection refused ({time.monotonic() - started:.3f} s)")
            continue
        except (OSError, smtplib.SMTPException) as error:
            print(f"crude_send: {address} port 25: {type(error).__name__}: {error} ({time.monotonic() - started:.3f} s)")
            continue
        print(f"RESULT delivered {mx}[{address}] {code} {reply.decode(errors='replace')} id {tag}")
        return 0
    if refused == len(addresses):
        print(f"RESULT refused {mx} ({refused} address(es), connection refused)")
        return 1
    print(f"RESULT failed {mx}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
