"""Send test mail through the demo lab and check where it lands.

    python -m lab.demo.traffic --state-dir DIR [-n 10] [--timeout 300]     (from the repository root)

0. First, when the layout has traps: `bot` goes for the HIGHEST MX (a trap on mx1). Its
   message still reaches Postfix there (the trap records it); right after, straight to
   mx1.example.test, it must be refused (with --suppression, the default) or delivered
   (--no-suppression). Then the Postfix sender below must still deliver everything.
1. `sender` (Postfix, resolving MX through `ns`) submits N messages with sendmail to
   demo@example.test; they must all land in the mailboxes of mx1/mx2 (waiting at most
   --timeout seconds, a deadline), and every connection the sender's Postfix made to the
   dead primary must have been refused (a TCP reset, never a timeout). Per message: the
   MX that took it (sender's Postfix log), its Postfix delay, the dead-MX connection
   attempts before it, and the mailbox it was found in. Timings are printed, never judged:
   a busy machine must not fail the demo.
2. `crude` runs crude_send.py (lowest MX only): it must be refused.
3. `partner` (allowlisted on the dead primary) runs the same script: it must be
   delivered, through the dead primary address, into the dead host's mailbox.

Messages carry an `X-Demo-Id: <run>-<n>` header and are counted in /var/mail/demo
(mbox) on dead, mx1 and mx2, so earlier runs never count. Needs root (runs commands in
the hosts with nsenter through lab.mxlab). Exit code 0 when every expectation is met,
1 otherwise, 2 on a usage or lab error.
"""

from __future__ import annotations

import argparse
import collections
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

from lab import mxlab

HERE = Path(__file__).resolve().parent
RECEIVERS = ("mx1", "mx2", "dead")
MAILBOX = "/var/mail/demo"
POSTFIX_LOG = "/var/log/postfix.log"
SENDER_ADDRESS = "demo-sender@sender.lab.test"
# Deadlines, not speed checks: how long to wait for mail to land, and for a command in a host.
DELIVERY_TIMEOUT = 300.0
COMMAND_TIMEOUT = 600.0

CLEANUP_RE = re.compile(r"postfix/cleanup\[\d+\]: (\w+): message-id=<([^>]*)>")
STATUS_RE = re.compile(
    r"postfix/smtp\[(\d+)\]: (\w+): to=<[^>]*>, relay=([^,]+), (?:conn_use=(\d+), )?delay=([\d.]+), "
    r"delays=[\d./]+, dsn=[\d.]+, status=(\w+)"
)
CONNECT_RE = re.compile(r"postfix/smtp\[(\d+)\]: connect to (\S+?\[[^\]]+\]):\d+: (.*)$")


class Lab:
    def __init__(self, state_dir: str):
        self.state_dir = state_dir

    def run(self, host: str, argv: list[str], stdin: str | None = None, timeout: float = COMMAND_TIMEOUT):
        return subprocess.run(
            mxlab.exec_command(self.state_dir, host, argv),
            input=stdin, capture_output=True, text=True, timeout=timeout, check=False,
        )

    def demo_ids(self, host: str, prefix: str) -> set[str]:
        """X-Demo-Id values starting with prefix in host's mailbox."""
        result = self.run(host, ["grep", "-h", "^X-Demo-Id: ", MAILBOX])
        ids = set()
        for line in result.stdout.splitlines():
            value = line.split(":", 1)[1].strip()
            if value.startswith(prefix):
                ids.add(value)
        return ids


def message(i: int, run_id: str) -> str:
    return (
        f"From: {SENDER_ADDRESS}\n"
        "To: demo@example.test\n"
        f"Subject: demo lab message {i} of run {run_id}\n"
        f"Message-ID: <{run_id}.{i}@sender.lab.test>\n"
        f"X-Demo-Id: {run_id}-{i}\n"
        "\n"
        f"Message {i}, submitted on sender with Postfix's sendmail at {time.strftime('%H:%M:%S')}.\n"
    )


def parse_sender_log(text: str, run_id: str) -> dict[int, dict]:
    """Per message number: queue id, relay, delay, status and the failed connects before it."""
    qid_to_n: dict[str, int] = {}
    pending: dict[str, list[str]] = collections.defaultdict(list)  # smtp pid -> failed connects
    result: dict[int, dict] = {}
    for line in text.splitlines():
        match = CLEANUP_RE.search(line)
        if match:
            local = match.group(2).split("@", 1)[0]
            if local.startswith(run_id + "."):
                number = int(local.rsplit(".", 1)[1])
                qid_to_n[match.group(1)] = number
                result[number] = {"qid": match.group(1), "connects": [], "status": "queued"}
            continue
        match = CONNECT_RE.search(line)
        if match:
            reason = "refused" if match.group(3) == "Connection refused" else match.group(3)
            pending[match.group(1)].append(f"{match.group(2)} {reason}")
            continue
        match = STATUS_RE.search(line)
        if match:
            pid, qid, relay, conn_use, delay, status = match.groups()
            connects, pending[pid] = pending[pid], []
            if qid in qid_to_n:
                entry = result[qid_to_n[qid]]
                entry["connects"] += connects
                entry.update(relay=relay.removesuffix(":25"), delay=float(delay), status=status, reused=bool(conn_use))
    return result


def dead_primary_problems(per_message: dict[int, dict]) -> list[str]:
    """Connections to the dead primary that were not refused at once, from parse_sender_log's result.

    What makes nolisting cheap for a legitimate MTA is the dead primary's TCP reset, and the sender's
    log tells it apart from a drop without a clock ("Connection refused" against "Connection timed
    out", which costs Postfix 30 s per address); a bound on the delay would fail a busy machine.
    """
    return [f"message {i}: the dead primary did not reset the connection: {connect}"
            for i, entry in sorted(per_message.items()) for connect in entry["connects"]
            if connect.startswith("nolist.") and not connect.endswith(" refused")]


def relay_host(relay: str) -> str:
    return relay.split("[", 1)[0]


def run_crude(lab: Lab, host: str, tag: str, script: str, options=()) -> tuple[int, str, list[str]]:
    result = lab.run(host, ["/usr/bin/python3", "-", "--id", tag, *options], stdin=script)
    lines = (result.stdout + result.stderr).strip().splitlines()
    final = next((line for line in reversed(lines) if line.startswith("RESULT ")), "RESULT (none)")
    return result.returncode, final, lines


def run_bot(lab: Lab, run_id: str, script: str, suppression: bool, problems: list[str]) -> str:
    """The spam bot: the highest MX (a trap), then straight to the primary; return a one-line summary."""
    tag = f"bot-{run_id}"
    print("\nbot (crude_send.py --pick highest, IPv4 only; expected: delivered, and recorded by the trap):")
    code, final, lines = run_crude(lab, "bot", tag, script, ["--pick", "highest", "--ipv4-only"])
    hit_at = time.monotonic()
    for line in lines:
        print(f"  {line}")
    trap_host = final.split()[2].split("[", 1)[0] if code == 0 else "-"
    if code != 0:
        problems.append(f"bot: the trap did not take its message ({final})")
    expected = "refused" if suppression else "delivered"
    print(f"bot again, straight to mx1.example.test (expected: {expected}):")
    code, final, lines = run_crude(lab, "bot", f"{tag}2", script, ["--host", "mx1.example.test", "--ipv4-only"])
    after = time.monotonic() - hit_at
    for line in lines:
        print(f"  {line}")
    outcome = {0: "delivered", 1: "refused"}.get(code, "failed")
    if outcome != expected:
        problems.append(f"bot: {outcome} on mx1 after its trap hit, expected {expected} ({final})")
    return f"went for the highest MX ({trap_host}): recorded; {outcome} on mx1 {after:.2f} s after its trap hit"


def wait_for_ids(lab: Lab, hosts, prefix: str, wanted: set[str], timeout: float, seen_at=None, start=None):
    """Poll the mailboxes until every wanted id is found (or timeout); return {host: ids}."""
    deadline = time.monotonic() + timeout
    while True:
        found = {host: lab.demo_ids(host, prefix) for host in hosts}
        now = time.monotonic()
        if seen_at is not None:
            for ids in found.values():
                for value in ids:
                    seen_at.setdefault(value, now - start)
        if wanted <= set().union(*found.values()) or now >= deadline:
            return found
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.demo.traffic", description="Send test mail through the demo lab and check where it lands.")
    parser.add_argument("--state-dir", required=True, help="the lab's state folder (python -m lab.mxlab up --state-dir)")
    parser.add_argument("-n", "--count", type=int, default=10, help="messages from the Postfix sender (default 10)")
    parser.add_argument("--timeout", type=float, default=DELIVERY_TIMEOUT,
                        help="seconds to wait for delivery, a deadline (default %.0f)" % DELIVERY_TIMEOUT)
    parser.add_argument("--suppression", action=argparse.BooleanOptionalAction, default=True,
                        help="whether mx1 refuses a sender that hit a trap (mx_trap_suppress; default: yes)")
    args = parser.parse_args()
    if args.count < 1:
        parser.error("--count must be at least 1")
    if not (Path(args.state_dir) / "instances.json").exists():
        print(f"traffic: no lab in {args.state_dir} (run python -m lab.mxlab up lab/demo/spec.json first)", file=sys.stderr)
        return 2

    lab = Lab(args.state_dir)
    run_id = time.strftime("run%H%M%S") + secrets.token_hex(2)
    problems: list[str] = []

    mx = lab.run("sender", ["dig", "+short", "example.test", "MX"])
    mx_records = sorted((int(line.split()[0]), line.split()[1]) for line in mx.stdout.splitlines() if len(line.split()) == 2)
    mx_text = ", ".join(f"{preference} {host.rstrip('.')}" for preference, host in mx_records) or "none"
    print(f"run {run_id}; MX of example.test as sender sees it (through ns): {mx_text}")
    if mx_text == "none":
        print("traffic: example.test has no MX yet: publish the layout first (harden-mx.yml / mailsec.mx.mx_records)")
        return 1

    script = (HERE / "crude_send.py").read_text(encoding="utf-8")
    trap_summary = None
    if any(host.startswith("trap") for preference, host in mx_records):
        trap_summary = run_bot(lab, run_id, script, args.suppression, problems)

    # 1. The legitimate Postfix sender.
    size = lab.run("sender", ["stat", "-c", "%s", POSTFIX_LOG])
    log_offset = int(size.stdout.strip()) if size.returncode == 0 else 0
    start = time.monotonic()
    for i in range(1, args.count + 1):
        submitted = lab.run("sender", ["/usr/sbin/sendmail", "-i", "-f", SENDER_ADDRESS, "--", "demo@example.test"],
                            stdin=message(i, run_id))
        if submitted.returncode != 0:
            print(f"traffic: sendmail failed for message {i}: {submitted.stderr.strip()}")
            return 1
    wanted = {f"{run_id}-{i}" for i in range(1, args.count + 1)}
    seen_at: dict[str, float] = {}
    found = wait_for_ids(lab, RECEIVERS, run_id + "-", wanted, args.timeout, seen_at, start)
    waited = time.monotonic() - start
    log = lab.run("sender", ["tail", "-c", f"+{log_offset + 1}", POSTFIX_LOG]).stdout
    per_message = parse_sender_log(log, run_id)

    print(f"\npostfix sender: {args.count} message(s) to demo@example.test, waited {waited:.1f} s")
    print("  (delay: Postfix's own delay= on sender, queue to remote 250; after: seconds from the first submit")
    print("   until found in the receiving mailbox, polled every 0.1 s, including the receiver's local delivery)")
    landed_where = {value: host for host, ids in found.items() for value in ids}
    for i in range(1, args.count + 1):
        tag = f"{run_id}-{i}"
        entry = per_message.get(i, {"status": "not in log", "connects": []})
        landed = landed_where.get(tag)
        relay = entry.get("relay", "-")
        delay = f"{entry['delay']:.2f} s" if "delay" in entry else "-"
        if entry["connects"]:
            tried = "tried first: " + ", ".join(entry["connects"])
        elif entry.get("reused"):
            tried = "reused an open connection"
        else:
            tried = ""
        seen = f"{seen_at[tag]:.1f} s" if tag in seen_at else "-"
        print(f"  #{i:<3} {entry['status']:<6} via {relay:<35} delay {delay:<7} in {landed or 'NO MAILBOX':<4} after {seen:<6} {tried}")
        if landed is None:
            problems.append(f"message {i} not found in any mailbox")
        elif landed == "dead":
            problems.append(f"message {i} landed on the dead primary")
        elif relay != "-" and relay_host(relay) != f"{landed}.example.test":
            problems.append(f"message {i}: log says {relay}, found in {landed}'s mailbox")
    delivered = [i for i in range(1, args.count + 1) if landed_where.get(f"{run_id}-{i}") in ("mx1", "mx2")]
    relays = collections.Counter(relay_host(per_message[i]["relay"]) for i in delivered if "relay" in per_message.get(i, {}))
    via = ", ".join(f"{host}" if len(relays) == 1 else f"{host} ({count})" for host, count in relays.most_common()) or "mx1/mx2"
    delays = [per_message[i]["delay"] for i in delivered if "delay" in per_message.get(i, {})]
    problems.extend(dead_primary_problems(per_message))
    dead_tries = sum(1 for entry in per_message.values() for c in entry["connects"] if c.startswith("nolist."))
    reused = sum(1 for entry in per_message.values() if entry.get("reused"))
    counts = ", ".join(f"{host} {len(found[host])}" for host in RECEIVERS)
    print(f"  mailbox counts for this run: {counts}; failed connections to the dead MX (sender's log): {dead_tries};"
          f" deliveries over a reused connection: {reused}")
    sender_summary = f"{len(delivered)}/{args.count} delivered via {via}" + (
        f", slowest {max(delays):.2f} s" if delays else "")
    if found["dead"]:
        sender_summary += f" ({len(found['dead'])} landed on the dead host)"

    # 2. and 3. The crude sender and the allowlisted partner (lowest MX only).
    outcomes = {}
    for host, expected in (("crude", "refused"), ("partner", "delivered")):
        tag = f"{run_id}-{host}"
        started = time.monotonic()
        code, final, lines = run_crude(lab, host, tag, script)
        elapsed = time.monotonic() - started
        print(f"\n{host} (crude_send.py, lowest MX only; expected: {expected}), {elapsed:.2f} s:")
        for line in lines:
            print(f"  {line}")
        words = final.split()
        outcome = words[1] if len(words) > 1 and words[1] in ("delivered", "refused") else "failed"
        if outcome != {0: "delivered", 1: "refused"}.get(code, "failed"):
            outcome = "failed"
        where = ""
        if outcome == "delivered":
            boxes = wait_for_ids(lab, RECEIVERS, tag, {tag}, DELIVERY_TIMEOUT)
            hosts = [h for h, ids in boxes.items() if tag in ids]
            where = f" (in {hosts[0]}:{MAILBOX})" if hosts else f" (but NOT FOUND in any mailbox within {DELIVERY_TIMEOUT:.0f} s)"
            if not hosts:
                problems.append(f"{host}: accepted but not found in a mailbox")
            elif expected == "delivered" and hosts != ["dead"]:
                problems.append(f"{host}: landed in {hosts}, expected the dead host's mailbox")
        outcomes[host] = outcome + where
        if outcome != expected:
            problems.append(f"{host}: {outcome}, expected {expected} ({final})")
    # A refused crude message must not show up later either.
    leaked = [h for h, ids in {h: lab.demo_ids(h, f"{run_id}-crude") for h in RECEIVERS}.items() if ids]
    if leaked:
        problems.append(f"crude sender's message found in {leaked}")

    if len(delivered) != args.count:
        problems.append(f"postfix sender: only {len(delivered)}/{args.count} delivered within {args.timeout:.0f} s")
    print("\n== summary ==")
    print(f"postfix sender: {sender_summary}; crude sender: {outcomes['crude']}; allowlisted partner: {outcomes['partner']}")
    if trap_summary:
        print(f"spam bot: {trap_summary}")
    for problem in problems:
        print(f"FAIL: {problem}")
    print("RESULT: " + ("OK" if not problems else f"FAILED ({len(problems)} problem(s))"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
