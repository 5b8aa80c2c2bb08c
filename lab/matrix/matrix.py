"""The compatibility matrix: real MTAs deliver through the hardened layout; crude senders do not.

    python -m lab.matrix.matrix [--variant reset] [--variant drop] [--variant 4xx] [--count 10] [--docs docs/compatibility.md]
    (from the repository root; `make matrix-check` / `make matrix`)

Builds the demo lab plus one sending host per MTA (Postfix, Exim, OpenSMTPD, Sendmail: see prepare.yml; qmail:
notqmail 1.09 built from ../shared/mta-src by lab/matrix/qmail.py, cached per tarball checksum, and driven through
its own queue - skipped, with the reason printed, where that tarball is missing), runs playbooks/harden-mx.yml with
the demo inventory (nolisting, mx1, mx2, a backstop, two traps), then per variant (`reset`: the dead primary answers
with a TCP reset, the default; `drop`: it drops, as dead_primary_action drop does; `4xx`: the role's firewall is
removed and a listener greets every connection to the dead primary's addresses with 421):

1. every MTA submits --count messages at once; each must land in mx1's mailbox (which MX took it:
   the mailbox it is found in; its time: from submission until found, polled every 0.1 s), and no
   MTA may show up in the traps' hit list;
2. the same with mx1's Postfix stopped: the messages must land on mx2;
   (4xx: for both, which MTA moved on and delivered, which deferred, and how many messages each MTA's queue holds
   over FOUR_XX_RETRIES forced retries, FOUR_XX_RETRY_EVERY apart; qmail's log says what each attempt met. Then
   the reset is restored, every queue flushed, and what was held back arrives. No crude senders, no walk.)
3. crude senders: swaks and crude_send.py at the lowest MX (refused, or timing out with drop), a client
   that takes the first MX of the DNS answer (what happens depends on which one that is), a spam bot at
   the highest MX (recorded by a trap, then refused on mx1) and the allowlisted partner (delivered);
   with reset, the nolisting audit runs once the clients that try the lowest MX only are done (every MTA,
   qmail too, must show as `retried`);
4. (reset only) the walk past the trap host: mx1's own addresses (primary and backstop) answer 421
   (`4xx`) or refuse (`unreachable`) while its trap addresses still reach its Postfix, and mx2 does the
   same; every MTA submits --walk-count messages and walks its MX list as it does, one queue run of
   each MTA later (as its own queue runner would do) it walks again, then the MXes recover and the
   queues are flushed. No MTA may be recorded by the traps (so none is suppressed), and every message
   must arrive, via a trap during the outage or after it; an IPv6 spam bot straight to a trap is still
   recorded and then refused on mx1.

Writes the figures as JSON (--results) and, with --docs, as the Markdown page; an MTA skipped in this run keeps
the rows of the results file an earlier run left at --results, marked with the date they were measured. Exit code
0 when the reset variant met every expectation (100 % delivered, via the expected MX, no message slower than a
dropping dead primary would make it, crude senders as the layout intends) and no MTA source was refused (a
tarball that does not match its checksum), 1 otherwise. drop and 4xx are measurements. The measured latencies are
figures for docs/compatibility.md (and bench/), not pass marks. Needs root, the .venv, the MTA packages
(.ci/download-mtas), gcc and make (qmail).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import secrets
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

# The demo's lab helper (commands in hosts, mailbox lookups).
from lab.demo import audit_check, traffic
from lab.matrix import qmail

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
MTAS = ("postfix", "exim", "opensmtpd", "sendmail", "qmail")
MTA_HOSTS = [
    {"name": "postfix", "addresses": ["198.51.100.41/24", "2001:db8:de::41/64"]},
    {"name": "exim", "addresses": ["198.51.100.42/24", "2001:db8:de::42/64"], "private_usr": True},
    {"name": "opensmtpd", "addresses": ["198.51.100.43/24", "2001:db8:de::43/64"], "private_usr": True},
    {"name": "sendmail", "addresses": ["198.51.100.44/24", "2001:db8:de::44/64"], "private_usr": True},
    # Built from source by lab/matrix/qmail.py; it lives in /var/qmail (the host's private /var), not in /usr.
    {"name": "qmail", "addresses": ["198.51.100.45/24", "2001:db8:de::45/64"]},
]
RECEIVERS = ("mx1", "mx2", "dead")
BOT = "198.51.100.99"
NAME_SERVER = "198.51.100.53"
MAILBOX = "/var/mail/demo"
# The one timing a check holds a message to tells a reset from a drop, with a wide margin either
# side; it is not a speed target. Behind a resetting dead primary a message takes seconds (measured:
# about 1 s; OpenSMTPD 4 s, 8 s with the primary down, as it waits about 1.5 s after each of the four
# refusing addresses), while a dropping one costs every MTA at least a connect timeout per address
# (Postfix 30 s, 60 s with IPv4 and IPv6 as here; OpenSMTPD, Sendmail, Exim: 2 to 5 minutes). A busy
# machine slows the first, never into the second. The precise figures: docs/compatibility.md.
MAX_DELAY = 25.0
# How long to wait for a batch to arrive, and for MTAs to close their sessions: deadlines, not
# speed checks (a batch behind a reset usually lands within seconds).
BATCH_TIMEOUT = 300.0
SETTLE_TIMEOUT = 300.0
# crude_send.py's and swaks' wait per connection. A deadline for reset (answers come at once); with
# drop it is what every connection to the dead primary costs (and what the docs say).
CRUDE_TIMEOUT = {"reset": 60, "drop": 10}
# The walk past the trap host (lab/demo/inventory/group_vars/all.yml): mx1's own addresses (primary and backstop),
# its traps, and mx2's.
MX1_OWN = ["198.51.100.20", "2001:db8:de::20"]
MX1_TRAPS = ["198.51.100.21", "2001:db8:de::21", "198.51.100.22", "2001:db8:de::22"]
MX2 = ["198.51.100.30", "2001:db8:de::30"]
BOT6 = "2001:db8:de::99"
WALKS = ("4xx", "unreachable")
# The 4xx variant: the dead primary's addresses (nolist.example.test) are served by the 421 greeter instead of the
# firewall's reset, while the dead host's Postfix keeps its own addresses (the allowlisted partner's path is gone).
DEAD = ["198.51.100.11", "2001:db8:de::11"]
DEAD_HOST_OWN = ["198.51.100.10", "2001:db8:de::10"]
# How the 4xx variant watches the queues: every MTA retries its whole queue (forced, as a flush does) this often, this
# many times, and how many messages each holds is read before every retry and at the end. A window, not a pass mark:
# qmail's own first retry would come 400 s after the first try, then ~27 min later, and it never reaches the next MX.
FOUR_XX_RETRIES = 3
FOUR_XX_RETRY_EVERY = 20.0
# The outage lasts this long, a figure's window and not a pass mark: what has not arrived by then (an MTA that gives
# up after a few addresses, as Postfix's smtp_mx_address_limit and smtp_mx_session_limit make it) arrives after the
# recovery, which is when every MTA's next queue run would deliver it anyway.
WALK_OUTAGE = 60.0
# One queue run of every MTA during the outage, as its own queue runner would start later (Exim then skips the hosts
# in its retry hints and goes straight on down the list: the case mx_trap_order_window is sized for).
WALK_QUEUE_RUN_AFTER = 20.0
QUEUE_RUN = {"postfix": ["postqueue", "-f"], "exim": ["exim4", "-q"], "opensmtpd": ["smtpctl", "schedule", "all"],
             "sendmail": ["sendmail", "-q"], "qmail": qmail.QUEUE_RUN}
QUEUE_FLUSH = {"postfix": ["postqueue", "-f"], "exim": ["exim4", "-qff"], "opensmtpd": ["smtpctl", "schedule", "all"],
               "sendmail": ["sendmail", "-q"], "qmail": qmail.QUEUE_RUN}
# How many messages each MTA holds in its queue: the first number of the output (none: an empty queue).
QUEUE_SIZE = {"postfix": ["sh", "-c", "postqueue -j | wc -l"], "exim": ["exim4", "-bpc"],
              "opensmtpd": ["sh", "-c", "smtpctl show queue | wc -l"], "sendmail": ["sendmail", "-bp"],
              "qmail": qmail.QUEUE_SIZE}
SENDMAIL = {"qmail": qmail.SENDMAIL}
VERSION_COMMANDS = {
    "postfix": ["postconf", "-h", "mail_version"],
    "exim": ["dpkg-query", "-W", "-f", "${Version}", "exim4-daemon-light"],
    "opensmtpd": ["dpkg-query", "-W", "-f", "${Version}", "opensmtpd"],
    "sendmail": ["dpkg-query", "-W", "-f", "${Version}", "sendmail-bin"],
}
PRODUCT = {"postfix": "Postfix", "exim": "Exim", "opensmtpd": "OpenSMTPD", "sendmail": "Sendmail", "qmail": "qmail"}
# What the trap host's traps remember, read the way a user would: the collection's public module, run with
# Ansible on that host (inside its namespaces), its result printed as JSON by the minimal callback.
TRAP_HITS_ARGS = {"name": "mx_trap", "backend": "auto"}


class Lab(traffic.Lab):
    def __init__(self, state_dir: Path, mtas=MTAS):
        super().__init__(str(state_dir))
        self.inventory = state_dir / "inventory.yml"
        # The MTAs of this run: all of MTAS, less qmail where its source is missing.
        self.mtas = tuple(mtas)

    def found(self, prefix):
        """{X-Demo-Id: receiving host} of the ids starting with ``prefix`` in the receivers' mailboxes."""
        found = {}
        for host in RECEIVERS:
            result = self.run(host, ["grep", "-h", "^X-Demo-Id: " + prefix, MAILBOX])
            for line in result.stdout.splitlines():
                found.setdefault(line.split(":", 1)[1].strip(), host)
        return found

    def playbook(self, playbook, *extra):
        command = [str(BIN / "ansible-playbook"), "-i", str(self.inventory), "-i", str(ROOT / "lab" / "demo" / "inventory"),
                   str(playbook), *extra]
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=ansible_env())
        if result.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (playbook, (result.stdout + result.stderr)[-3000:]))
        return result.stdout

    def trapped(self):
        """The sources the traps on mx1 remember."""
        result = self.run("mx1", trap_hits_command())
        try:
            return trap_hit_sources(result.stdout)
        except ValueError as error:
            return ["(could not read: %s)" % "; ".join(filter(None, (str(error), result.stderr.strip())))]


def trap_hits_command():
    """``ansible localhost -m mailsec.mx.mx_trap_hits`` with the venv's Ansible, as run on the trap host itself."""
    env = ansible_env()
    settings = {"ANSIBLE_COLLECTIONS_PATH": env["ANSIBLE_COLLECTIONS_PATH"], "ANSIBLE_HOME": env["ANSIBLE_HOME"],
                "ANSIBLE_STDOUT_CALLBACK": "minimal", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"}
    return ["env", *("%s=%s" % setting for setting in settings.items()), str(BIN / "ansible"), "localhost",
            "--connection", "local", "--module-name", "mailsec.mx.mx_trap_hits", "--args", json.dumps(TRAP_HITS_ARGS),
            # The lab hosts' interpreter, as in their inventory (discovery would find the controller's shims).
            "--extra-vars", "ansible_python_interpreter=/usr/bin/python3"]


def trap_hit_sources(output):
    """The sorted sources of mx_trap_hits' ``hits``, from the minimal callback's ``localhost | SUCCESS => {...}``.

    Raises ValueError, with the module's message when it failed, if the output holds no successful result.
    """
    head, separator, body = output.partition(" => ")
    try:
        result = json.loads(body) if separator else None
    except json.JSONDecodeError:
        result = None
    if not isinstance(result, dict):
        raise ValueError("no module result")
    if head.rsplit("|", 1)[-1].strip() not in ("SUCCESS", "CHANGED") or "hits" not in result:
        raise ValueError("%s: %s" % (head.strip(), result.get("msg", "no hits")))
    # A source grouped by prefix is listed as its network ('2001:db8:1::/64'): the address part is what the set holds.
    return sorted(hit["source"].split("/")[0] for hit in result["hits"])


def ansible_env():
    env = dict(os.environ)
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(ROOT / ".cache" / "collections"))
    env.setdefault("ANSIBLE_HOME", str(ROOT / ".cache" / "ansible-home"))
    env.setdefault("ANSIBLE_PIPELINING", "True")
    return env


def message(mta, tag):
    return ("From: matrix@%s.lab.test\nTo: demo@example.test\nSubject: matrix %s\nX-Demo-Id: %s\n\n"
            "Sent by %s in the compatibility matrix.\n" % (mta, tag, tag, mta))


def send_batches(lab, run_id, count, timeout):
    """Every MTA submits ``count`` messages; return {mta: [{tag, host, seconds}]}."""
    submitted = submit(lab, run_id, count)
    arrived = await_arrivals(lab, run_id, submitted, {}, timeout)
    return batch_rows(submitted, arrived)


def submit(lab, run_id, count):
    """Every MTA submits ``count`` messages at once; return {tag: (mta, submitted at)}."""
    submitted = {}
    for number in range(1, count + 1):
        for mta in lab.mtas:
            tag = "%s-%s-%d" % (run_id, mta, number)
            result = lab.run(mta, [SENDMAIL.get(mta, "/usr/sbin/sendmail"), "-i", "-f", "matrix@%s.lab.test" % mta, "--", "demo@example.test"],
                             stdin=message(mta, tag))
            if result.returncode != 0:
                raise RuntimeError("%s: sendmail failed: %s" % (mta, result.stderr.strip()))
            submitted[tag] = (mta, time.monotonic())
    return submitted


def await_arrivals(lab, run_id, submitted, arrived, timeout, at=None):
    """Poll the mailboxes until every submitted message is in ``arrived`` ({tag: (host, seconds)}) or ``timeout`` passed.

    ``at``: (seconds, callable) to call once that long into the wait.
    """
    started = time.monotonic()
    deadline = started + timeout
    while len(arrived) < len(submitted) and time.monotonic() < deadline:
        if at is not None and time.monotonic() - started >= at[0]:
            at[1]()
            at = None
        now = time.monotonic()
        for tag, host in lab.found(run_id + "-").items():
            if tag in submitted and tag not in arrived:
                arrived[tag] = (host, now - submitted[tag][1])
        time.sleep(0.1)
    return arrived


def batch_rows(submitted, arrived):
    batches = {}
    for tag, (mta, dummy) in submitted.items():
        batches.setdefault(mta, [])
        host, seconds = arrived.get(tag, (None, None))
        batches[mta].append({"tag": tag, "host": host, "seconds": None if seconds is None else round(seconds, 2)})
    return batches


def settle(lab, limit=SETTLE_TIMEOUT):
    """Wait until no MTA holds an SMTP session open, so a change of mx1 never lands in a cached session."""
    deadline = time.monotonic() + limit
    while True:
        busy = [mta for mta in lab.mtas
                if lab.run(mta, ["ss", "-H", "-t", "-n", "state", "established", "( dport = :25 )"]).stdout.strip()]
        if not busy:
            return []
        if time.monotonic() > deadline:
            print("  (still in an SMTP session after %.0f s: %s)" % (limit, ", ".join(busy)))
            return busy
        time.sleep(0.5)


def forget_host_failures(lab):
    """Exim keeps hosts that refused in its retry hints and skips them for a while: start each scenario clean."""
    lab.run("exim", ["sh", "-c", "rm -f /var/spool/exim4/db/retry /var/spool/exim4/db/retry.lockfile"])
    if "qmail" in lab.mtas:
        lab.run("qmail", qmail.FORGET_TIMEOUTS)


def summarise(batches, trapped, expected_host, addresses, max_delay=MAX_DELAY):
    """One row per MTA: delivered/sent, via, median/max seconds, trap hits, whether it met the expectations."""
    rows = []
    for mta in [mta for mta in MTAS if mta in batches]:
        messages = batches[mta]
        delivered = [m for m in messages if m["host"]]
        seconds = [m["seconds"] for m in delivered]
        via = sorted({m["host"] for m in delivered})
        hits = [source for source in trapped if source in addresses[mta]]
        rows.append({
            "mta": mta, "sent": len(messages), "delivered": len(delivered), "via": via,
            "median": round(statistics.median(seconds), 2) if seconds else None,
            "max": max(seconds) if seconds else None, "trap_hits": hits,
            "ok": (len(delivered) == len(messages) and via == [expected_host] and not hits
                   and (not seconds or max(seconds) <= max_delay)),
        })
    return rows


def crude_senders(lab, run_id, variant, after_lowest=None):
    """Each crude client once; outcome and whether it is what the layout intends.

    ``after_lowest`` is called once the clients that try the lowest MX only have run, before any client that may
    pick a live MX (the nolisting audit then sees them as crude senders that gave up)."""
    script = (ROOT / "lab" / "demo" / "crude_send.py").read_text(encoding="utf-8")
    lowest = "refused" if variant == "reset" else "failed"
    wait = str(CRUDE_TIMEOUT[variant])
    results = []

    def crude(host, label, options, expected):
        """Run crude_send.py; ``expected`` is an outcome, or a function of the MX it picked."""
        tag = "%s-%s-%s" % (run_id, host, len(results))
        started = time.monotonic()
        result = lab.run(host, ["/usr/bin/python3", "-", "--id", tag, "--timeout", wait, *options], stdin=script, timeout=600)
        lines = result.stdout.splitlines()
        final = next((line for line in reversed(lines) if line.startswith("RESULT ")), "RESULT none")
        picked = next((line.split(": ", 2)[-1].split()[1] for line in lines if " MX of " in line), "?")
        if callable(expected):
            expected = expected(picked)
            label = label % picked
        outcome = {0: "delivered", 1: "refused"}.get(result.returncode, "failed")
        results.append({"client": label, "host": host, "outcome": outcome, "expected": expected, "detail": final,
                        "seconds": round(time.monotonic() - started, 2), "ok": outcome == expected})

    swaks = lab.run("crude", ["swaks", "--server", "nolist.example.test", "--to", "demo@example.test", "--from",
                              "swaks@crude.lab.test", "--timeout", wait], timeout=600)
    refused = "Connection refused" in swaks.stdout + swaks.stderr
    outcome = "delivered" if swaks.returncode == 0 else ("refused" if refused else "failed")
    last = next((line for line in reversed((swaks.stdout + swaks.stderr).splitlines()) if line.strip()), "")
    results.append({"client": "swaks --server <lowest MX>", "host": "crude", "outcome": outcome, "expected": lowest,
                    "detail": last.strip(), "seconds": None, "ok": outcome == lowest})
    crude("crude", "crude_send.py, lowest MX only", [], lowest)
    if after_lowest is not None:
        after_lowest()
    # Whatever it picks takes the mail, except the dead primary (and a trap once the client is recorded).
    crude_recorded = "198.51.100.66" in lab.trapped()
    crude("crude", "first MX of the DNS answer (%s)", ["--pick", "first"],
          lambda mx: lowest if mx.startswith("nolist") else ("refused" if crude_recorded else "delivered"))
    # A recorded bot (from an earlier variant) is refused at the trap too; a new one gets through once.
    bot_recorded = BOT in lab.trapped()
    crude("bot", "spam bot, highest MX (a trap)", ["--pick", "highest", "--ipv4-only"], "refused" if bot_recorded else "delivered")
    results[-1]["recorded"] = BOT in lab.trapped()
    results[-1]["ok"] = results[-1]["ok"] and results[-1]["recorded"]
    crude("bot", "spam bot again, straight to mx1", ["--host", "mx1.example.test", "--ipv4-only"], "refused")
    crude("partner", "allowlisted partner, lowest MX only", [], "delivered")
    return results


def start_greeters(lab, host, addresses):
    """A 421 listener on port 25 of ``addresses`` in ``host`` (an overloaded or greylisting MX, at the greeting)."""
    # lab.matrix.greeter of this checkout: nsenter starts in the host's root folder, so the path goes along.
    lab.run(host, ["sh", "-c", "setsid env PYTHONPATH=%s python3 -m lab.matrix.greeter %s </dev/null >/dev/null 2>&1 &"
                   " echo $! > /run/matrix-greeter.pid" % (shlex.quote(str(ROOT)), " ".join(addresses))])
    wait_listening(lab, host, addresses)


def stop_greeters(lab, host, limit=120.0):
    """Stop ``host``'s 421 listener, if it runs, and wait until it is gone (its /run is the host's own)."""
    script = ("test -f /run/matrix-greeter.pid || exit 0; pid=$(cat /run/matrix-greeter.pid); kill $pid 2>/dev/null;"
              " i=0; while kill -0 $pid 2>/dev/null; do i=$((i+1)); [ $i -lt %d ] || exit 1; sleep 0.2; done;"
              " rm -f /run/matrix-greeter.pid" % int(limit / 0.2))
    if lab.run(host, ["sh", "-c", script]).returncode != 0:
        raise RuntimeError("%s: the 421 listener did not stop" % host)


def wait_listening(lab, host, addresses, limit=120.0):
    """Until port 25 of every address of ``addresses`` listens in ``host`` (a deadline, not a speed check)."""
    deadline = time.monotonic() + limit
    while True:
        listening = lab.run(host, ["ss", "-H", "-l", "-t", "-n", "sport = :25"]).stdout.split()
        missing = [address for address in addresses if not listens(address, listening)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("%s: nothing listens on port 25 of %s" % (host, ", ".join(missing)))
        time.sleep(0.2)


def wait_closed(lab, host, limit=120.0):
    """Until nothing listens on port 25 in ``host`` (a deadline, not a speed check)."""
    deadline = time.monotonic() + limit
    while lab.run(host, ["ss", "-H", "-l", "-t", "-n", "sport = :25"]).stdout.strip():
        if time.monotonic() > deadline:
            raise RuntimeError("%s: port 25 still listens %.0f s after stopping its MTA" % (host, limit))
        time.sleep(0.2)


def listens(address, listening):
    """Whether ``ss -l`` words show port 25 of ``address`` listening, on the address itself or on the wildcard."""
    forms = {"[%s]:25" % address, "[::]:25", "*:25"} if ":" in address else {"%s:25" % address, "0.0.0.0:25", "*:25"}
    return bool(forms & set(listening))


def postfix_on(lab, host, interfaces):
    """Restart ``host``'s Postfix listening on ``interfaces`` (a list of addresses, or ['all'])."""
    value = ", ".join("[%s]" % address if ":" in address else address for address in interfaces)
    if interfaces != ["all"]:
        value += ", 127.0.0.1"
    result = lab.run(host, ["sh", "-c", "postconf -e 'inet_interfaces = %s' && postfix stop" % value])
    if result.returncode != 0:
        raise RuntimeError("%s: stopping Postfix failed: %s" % (host, result.stderr.strip()))
    # 'postfix stop' returns before the master has let go of port 25: a new listener must wait for that.
    wait_closed(lab, host)
    result = lab.run(host, ["postfix", "start"])
    if result.returncode != 0:
        raise RuntimeError("%s: starting Postfix on %s failed: %s" % (host, value, result.stderr.strip()))


def outage(lab, kind):
    """mx1's own addresses and mx2 fail (421 greeting, or refused), while mx1's traps still reach its Postfix."""
    postfix_on(lab, "mx1", MX1_TRAPS)
    wait_listening(lab, "mx1", MX1_TRAPS)
    lab.run("mx2", ["postfix", "stop"])
    wait_closed(lab, "mx2")
    if kind == "4xx":
        start_greeters(lab, "mx1", MX1_OWN)
        start_greeters(lab, "mx2", MX2)


def recover(lab):
    for host in ("mx1", "mx2"):
        stop_greeters(lab, host)
    postfix_on(lab, "mx1", ["all"])
    lab.run("mx2", ["postfix", "start"])
    wait_listening(lab, "mx1", MX1_OWN + MX1_TRAPS)
    wait_listening(lab, "mx2", MX2)


def queue_runs(lab, commands):
    for mta in lab.mtas:
        lab.run(mta, commands[mta])


def walk_past_the_trap_host(lab, run_id, kind, count, addresses):
    """Scenario 4 for one kind of outage: rows per MTA, and the IPv6 bot's outcomes."""
    settle(lab)
    forget_host_failures(lab)
    prefix = "%s-walk%s" % (run_id, kind[:2])
    outage(lab, kind)
    try:
        submitted = submit(lab, prefix, count)
        during = await_arrivals(lab, prefix, submitted, {}, WALK_OUTAGE, at=(WALK_QUEUE_RUN_AFTER, lambda: queue_runs(lab, QUEUE_RUN)))
        during = dict(during)
        bot = bot_straight_to_a_trap(lab, prefix) if kind == WALKS[0] else None
    finally:
        settle(lab)
        recover(lab)
    queue_runs(lab, QUEUE_FLUSH)
    arrived = await_arrivals(lab, prefix, submitted, dict(during), BATCH_TIMEOUT)
    trapped = lab.trapped()
    rows = []
    for mta in lab.mtas:
        tags = [tag for tag, (sender, dummy) in submitted.items() if sender == mta]
        hits = [source for source in trapped if source in addresses[mta]]
        delivered = [tag for tag in tags if tag in arrived]
        rows.append({"mta": mta, "sent": len(tags), "delivered": len(delivered),
                     "via_trap": len([tag for tag in tags if tag in during]),
                     "after_recovery": len([tag for tag in delivered if tag not in during]),
                     "trap_hits": hits, "ok": len(delivered) == len(tags) and not hits})
    if bot is not None:
        # Refused on mx1 once it is back: the bot's first trap connection recorded it, and suppression is on.
        bot.append(crude_once(lab, "bot", "IPv6 spam bot again, straight to mx1", ["--host", "mx1.example.test", "--ipv6-only"],
                              "refused", "%s-bot-again" % prefix))
    return {"kind": kind, "count": count, "rows": rows, "bot": bot or []}


def crude_once(lab, host, label, options, expected, tag, wait="60"):
    script = (ROOT / "lab" / "demo" / "crude_send.py").read_text(encoding="utf-8")
    result = lab.run(host, ["/usr/bin/python3", "-", "--id", tag, "--timeout", wait, *options], stdin=script, timeout=600)
    final = next((line for line in reversed(result.stdout.splitlines()) if line.startswith("RESULT ")), "RESULT none")
    outcome = {0: "delivered", 1: "refused"}.get(result.returncode, "failed")
    return {"client": label, "host": host, "outcome": outcome, "expected": expected, "detail": final, "seconds": None,
            "ok": outcome == expected}


def bot_straight_to_a_trap(lab, prefix):
    """An IPv6 spam bot goes for the highest MX during the outage: its first trap connection reaches Postfix, and it
    is recorded (it never tried mx1's own addresses)."""
    first = crude_once(lab, "bot", "IPv6 spam bot, highest MX (a trap)", ["--pick", "highest", "--ipv6-only"], "delivered",
                       "%s-bot" % prefix)
    first["recorded"] = BOT6 in lab.trapped()
    first["ok"] = first["ok"] and first["recorded"]
    return [first]


def print_walk(walk):
    print("\nreset, walk past the trap host (%s):" % walk["kind"])
    for row in walk["rows"]:
        print("  %-4s %-10s %d/%d delivered: %d via a trap during the outage, %d after it%s" % (
            "ok" if row["ok"] else "FAIL", row["mta"], row["delivered"], row["sent"], row["via_trap"], row["after_recovery"],
            ", TRAP HITS %s" % row["trap_hits"] if row["trap_hits"] else ""))
    for item in walk["bot"]:
        print("  %-4s %-45s %-9s (expected %s) %s"
              % ("ok" if item["ok"] else "FAIL", item["client"], item["outcome"], item["expected"], item["detail"]))


def run_variant(lab, variant, count, timeout, addresses, walk_count=0):
    if variant == "4xx":
        return run_greeting_variant(lab, count, addresses)
    run_id = "m%s%s" % (time.strftime("%H%M%S"), secrets.token_hex(2))
    lab.playbook(HERE / "dead-action.yml", "-e", "dead_primary_action=" + variant)
    scenarios = []
    for scenario, expected_host in (("primary up", "mx1"), ("primary down", "mx2")):
        settle(lab)
        forget_host_failures(lab)
        if scenario == "primary down":
            lab.run("mx1", ["postfix", "stop"])
        try:
            started = time.monotonic()
            batches = send_batches(lab, "%s-%s" % (run_id, scenario.split()[1]), count, timeout)
            waited = round(time.monotonic() - started, 1)
            max_delay = MAX_DELAY if variant == "reset" else float("inf")
            rows = summarise(batches, lab.trapped(), expected_host, addresses, max_delay)
        finally:
            if scenario == "primary down":
                settle(lab)
                lab.run("mx1", ["postfix", "start"])
        scenarios.append({"scenario": scenario, "expected_via": expected_host, "waited": waited,
                          "rows": rows})
        print_rows(variant, scenario, rows, waited)
    audits = []
    crude = crude_senders(lab, run_id, variant, after_lowest=(lambda: audits.append(run_audit(lab))) if variant == "reset" else None)
    for item in crude:
        print("  %-4s %-45s %-9s (expected %s) %s"
              % ("ok" if item["ok"] else "FAIL", item["client"], item["outcome"], item["expected"], item["detail"]))
    audit = audits[0] if audits else None
    walks = []
    if variant == "reset" and walk_count:
        for kind in WALKS:
            walks.append(walk_past_the_trap_host(lab, run_id, kind, walk_count, addresses))
            print_walk(walks[-1])
    return {"variant": variant, "count": count, "scenarios": scenarios, "crude": crude, "walks": walks, "audit": audit}


def run_greeting_variant(lab, count, addresses):
    """The 4xx variant, a measurement: the dead primary greets every connection with 421. Per MTA and scenario, which
    moved on to the next MX and delivered, which deferred, and what the queues held over FOUR_XX_RETRIES forced
    retries; then the reset is restored and every queue flushed, and what was still queued arrives (or not)."""
    run_id = "m%s%s" % (time.strftime("%H%M%S"), secrets.token_hex(2))
    dead_primary_greets(lab)
    scenarios = []
    submitted_all = {}
    try:
        for scenario, expected_host in (("primary up", "mx1"), ("primary down", "mx2")):
            settle(lab)
            forget_host_failures(lab)
            if scenario == "primary down":
                lab.run("mx1", ["postfix", "stop"])
            try:
                result = greeting_scenario(lab, "%s-%s" % (run_id, scenario.split()[1]), count, expected_host, addresses)
            finally:
                if scenario == "primary down":
                    settle(lab)
                    lab.run("mx1", ["postfix", "start"])
            submitted_all.update(result.pop("submitted"))
            scenarios.append(dict(result, scenario=scenario, expected_via=expected_host))
            print_rows("4xx", scenario, scenarios[-1]["rows"], scenarios[-1]["waited"])
    finally:
        settle(lab)
        dead_primary_resets(lab)
    # The fix, applied: with the reset back, the next queue run of every MTA delivers what the greeting held back.
    queue_runs(lab, QUEUE_FLUSH)
    before = {tag for scenario in scenarios for row in scenario["rows"] for tag in row.pop("arrived_tags")}
    arrived = await_arrivals(lab, run_id, submitted_all, {tag: ("?", 0.0) for tag in before}, BATCH_TIMEOUT)
    after_reset = {mta: {"queued": len([tag for tag, (sender, dummy) in submitted_all.items() if sender == mta and tag not in before]),
                         "delivered": len([tag for tag in arrived if tag not in before and submitted_all[tag][0] == mta])}
                   for mta in lab.mtas}
    print("\n4xx, after the reset was restored and every queue flushed:")
    for mta, figures in after_reset.items():
        print("  %-10s %d of %d still queued delivered" % (mta, figures["delivered"], figures["queued"]))
    return {"variant": "4xx", "count": count, "scenarios": scenarios, "crude": [], "walks": [], "audit": None,
            "after_reset": after_reset, "retries": FOUR_XX_RETRIES, "retry_every": FOUR_XX_RETRY_EVERY}


def greeting_scenario(lab, prefix, count, expected_host, addresses):
    """Submit, then FOUR_XX_RETRIES times: wait FOUR_XX_RETRY_EVERY, read the queues, retry every queue; rows per MTA."""
    log_offset = qmail_log_size(lab)
    started = time.monotonic()
    submitted = submit(lab, prefix, count)
    arrived = {}
    queues = {mta: [] for mta in lab.mtas}
    for retry in range(FOUR_XX_RETRIES + 1):
        await_arrivals(lab, prefix, submitted, arrived, FOUR_XX_RETRY_EVERY)
        for mta, size in queue_sizes(lab).items():
            queues[mta].append(size)
        if len(arrived) == len(submitted):
            break
        if retry < FOUR_XX_RETRIES:
            queue_runs(lab, QUEUE_FLUSH)
    waited = round(time.monotonic() - started, 1)
    rows = summarise(batch_rows(submitted, arrived), lab.trapped(), expected_host, addresses, float("inf"))
    for row in rows:
        row["queued"] = queues[row["mta"]]
        row["arrived_tags"] = [tag for tag in arrived if submitted[tag][0] == row["mta"]]
        row["outcome"] = ("delivered" if row["delivered"] == row["sent"] else "deferred" if not row["delivered"] else "partly")
        if row["mta"] == "qmail":
            row["qmail_log"] = qmail.deliveries(qmail_log_since(lab, log_offset))
    return {"rows": rows, "waited": waited, "submitted": submitted}


def queue_sizes(lab):
    """{mta: messages in its queue}."""
    return {mta: first_number(lab.run(mta, QUEUE_SIZE[mta]).stdout) for mta in lab.mtas}


def first_number(text):
    """The first whole number in ``text`` (0 if none: 'Mail queue is empty', '/var/spool/mqueue is empty')."""
    number = ""
    for character in text:
        if character.isdigit():
            number += character
        elif number:
            break
    return int(number) if number else 0


def qmail_log_size(lab):
    if "qmail" not in lab.mtas:
        return 0
    return first_number(lab.run("qmail", ["sh", "-c", "wc -c < %s" % qmail.LOG]).stdout)


def qmail_log_since(lab, offset):
    return lab.run("qmail", ["tail", "-c", "+%d" % (offset + 1), qmail.LOG]).stdout


def dead_primary_greets(lab):
    """The 4xx variant's dead primary: the role's firewall removed, its addresses served by the 421 greeter."""
    lab.playbook(HERE / "dead-action.yml", "-e", "dead_primary_state=absent")
    postfix_on(lab, "dead", DEAD_HOST_OWN)
    for address in DEAD:
        add = ["ip", "address", "add", address + ("/64" if ":" in address else "/24"), "dev", "eth0"]
        result = lab.run("dead", add + (["nodad"] if ":" in address else []))
        if result.returncode != 0:
            raise RuntimeError("dead: adding %s failed: %s" % (address, result.stderr.strip()))
    start_greeters(lab, "dead", DEAD)


def dead_primary_resets(lab):
    """Back to the default: the greeter gone, the addresses handed back to the role, which resets again."""
    stop_greeters(lab, "dead")
    for address in DEAD:
        lab.run("dead", ["ip", "address", "del", address + ("/64" if ":" in address else "/24"), "dev", "eth0"])
    postfix_on(lab, "dead", ["all"])
    lab.playbook(HERE / "dead-action.yml", "-e", "dead_primary_action=reset")


def run_audit(lab):
    """playbooks/nolisting-audit.yml as a user runs it, after the MTAs' batches and the crude clients that try the
    lowest MX only: every MTA must have retried a live MX, the crude client given up, the partner never been refused."""
    report_path = Path(lab.state_dir) / "nolisting-audit.json"
    lab.playbook(ROOT / "playbooks" / "nolisting-audit.yml",
                 "-e", json.dumps({"mx_audit_resolvers": [NAME_SERVER], "mx_audit_report_path": str(report_path)}))
    report = json.loads(report_path.read_text(encoding="utf-8"))
    expected = {mta: (PRODUCT[mta], "retried") for mta in lab.mtas}
    expected["crude"] = ("crude client", "gave_up")
    expected["partner"] = ("allowlisted partner", None)
    lines, found = audit_check.check(report, audit_check.host_addresses(Path(lab.state_dir)), expected)
    summary = report["summary"]
    print("\nnolisting audit: of %d source(s) refused at the dead primary, %d retried a live MX, %d gave up"
          % (summary["refused_sources"], summary["retried"], summary["gave_up"]))
    for line in lines:
        print("  " + line)
    for problem in found:
        print("  FAIL " + problem)
    return {"lines": lines, "problems": found, "summary": summary}


def print_rows(variant, scenario, rows, waited):
    print("\n%s, %s (waited %.1f s):" % (variant, scenario, waited))
    for row in rows:
        # Only the reset variant has pass marks; the others are measurements.
        mark = "ok" if row["ok"] else "FAIL" if variant == "reset" else "--"
        queued = ", queued %s" % "/".join(map(str, row["queued"])) if "queued" in row else ""
        print("  %-4s %-10s %d/%d via %-8s median %s s, max %s s%s%s" % (
            mark, row["mta"], row["delivered"], row["sent"], ",".join(row["via"]) or "-",
            row["median"], row["max"], queued, ", TRAP HITS %s" % row["trap_hits"] if row["trap_hits"] else ""))


def problems(results):
    """What fails the run: the reset variant's expectations (rows carried over from an earlier run do not count), and an
    MTA whose source was refused (a tarball that does not match its checksum)."""
    found = ["%s: %s" % (mta, skipped["reason"]) for mta, skipped in sorted(results.get("skipped", {}).items()) if skipped["refused"]]
    for variant in results["variants"]:
        if variant["variant"] != "reset":
            continue
        for scenario in variant["scenarios"]:
            found += ["%s, %s: %s" % (variant["variant"], scenario["scenario"], row["mta"]) for row in scenario["rows"]
                      if not row["ok"] and "measured" not in row]
        found += ["%s: %s: %s, expected %s" % (variant["variant"], c["client"], c["outcome"], c["expected"])
                  for c in variant["crude"] if not c["ok"]]
        found += ["%s: nolisting audit: %s" % (variant["variant"], problem) for problem in (variant.get("audit") or {}).get("problems", ())]
        for walk in variant.get("walks", ()):
            found += ["%s, walk past the trap host (%s): %s: %d/%d delivered%s" % (
                variant["variant"], walk["kind"], row["mta"], row["delivered"], row["sent"],
                ", recorded by a trap" if row["trap_hits"] else "") for row in walk["rows"] if not row["ok"] and "measured" not in row]
            found += ["%s, walk past the trap host (%s): %s: %s, expected %s%s" % (
                variant["variant"], walk["kind"], c["client"], c["outcome"], c["expected"],
                "" if c.get("recorded", True) else ", not recorded") for c in walk["bot"] if not c["ok"]]
    return found


def carry_over(results, previous, mta):
    """Copy ``mta``'s rows from ``previous`` results into ``results``, each marked with the date it was measured: the
    docs keep the last measured figures of an MTA this run skipped. Returns whether there was anything to copy."""
    if not previous or mta not in previous.get("versions", {}):
        return False
    measured = previous.get("measured", {}).get(mta, previous.get("date"))
    results["versions"][mta] = previous["versions"][mta]
    results.setdefault("measured", {})[mta] = measured
    old_variants = {variant["variant"]: variant for variant in previous.get("variants", ())}
    for variant in results["variants"]:
        old = old_variants.get(variant["variant"])
        if old is None:
            continue
        for part, key in (("scenarios", "scenario"), ("walks", "kind")):
            old_parts = {item[key]: item for item in old.get(part, ())}
            for item in variant.get(part, ()):
                item["rows"] += [dict(row, measured=measured) for row in old_parts.get(item[key], {}).get("rows", ())
                                 if row["mta"] == mta]
        if mta in old.get("after_reset", {}):
            variant.setdefault("after_reset", {})[mta] = dict(old["after_reset"][mta], measured=measured)
    return True


def _mta_label(row):
    return PRODUCT[row["mta"]] + (" (measured %s)" % row["measured"] if row.get("measured") else "")


def render_docs(results):
    """docs/compatibility.md from the measured figures."""
    lines = [
        "# Compatibility: real MTAs through the hardened layout",
        "",
        "Generated by `make matrix` (`python -m lab.matrix.matrix`) on %s from one real run; do not edit by hand." % results["date"],
        "",
        "Layout (published by `playbooks/harden-mx.yml` with `lab/demo/inventory`): 10 `nolist` (the dead primary),",
        "20 `mx1` (live primary), 30 `mx2` (backup), 40 `backstop` (mx1's addresses), 50 `trap1` and 60 `trap2`",
        "(trap addresses on mx1, suppression on). Every address has IPv4 and IPv6. Each MTA runs in a lab host with",
        "its Debian 12 package's stock settings (qmail, which Debian does not ship: notqmail built from source, with the",
        "control files of a plain internet sender), as an internet MTA resolving MX through the lab's BIND, and submits",
        "its batch at once. *Via*: the mailbox the messages landed in. *Seconds*: from submission until the message",
        "was in that mailbox (polled every 0.1 s). *Trap hits*: the MTA's addresses in the traps' hit list afterwards",
        "(a legitimate MTA must never touch a trap; the backstop shares mx1's addresses).",
        "",
        "qmail delivers through its own queue: qmail-send hands the message to qmail-rspawn, which runs qmail-remote",
        "(the MX lookup, the walk, the SMTP dialogue) and reads its status; a deferral stays queued. qmail-remote looks",
        "up A records only, so it walks the IPv4 addresses. Its retries are forced with `SIGALRM` (what `svc -a` does),",
        "since its own schedule would retry 400 s after the first try. See `lab/matrix/qmail.py`.",
        "",
        "| MTA | version |",
        "| --- | --- |",
    ]
    skipped = results.get("skipped", {})
    for mta in MTAS:
        if mta in results["versions"]:
            note = ""
            if mta in results.get("measured", {}):
                note = " (figures measured on %s; skipped in this run: %s)" % (results["measured"][mta], skipped.get(mta, {}).get("reason", "?"))
            lines.append("| %s | %s%s |" % (PRODUCT[mta], results["versions"][mta], note))
        elif mta in skipped:
            lines.append("| %s | skipped in this run: %s |" % (PRODUCT[mta], skipped[mta]["reason"]))
    for variant in results["variants"]:
        title = {"reset": "reset (the default: `dead_primary_action: reset`)",
                 "drop": "drop (`dead_primary_action: drop`, run on demand)",
                 "4xx": "4xx (a listener that greets with `421`, what a careless admin might set up; run on demand)"}[variant["variant"]]
        lines += ["", "## Dead primary: %s" % title]
        if variant["variant"] == "4xx":
            lines += _greeting_variant_lines(variant)
            continue
        for scenario in variant["scenarios"]:
            lines += ["", "### %s (expected via %s), %d message(s) per MTA" % (
                scenario["scenario"].capitalize(), scenario["expected_via"], variant["count"]), "",
                "| MTA | delivered / sent | via | median s | max s | trap hits |", "| --- | --- | --- | --- | --- | --- |"]
            for row in scenario["rows"]:
                lines.append("| %s | %d / %d | %s | %s | %s | %s |" % (
                    _mta_label(row), row["delivered"], row["sent"], ", ".join(row["via"]) or "-",
                    _figure(row["median"]), _figure(row["max"]), ", ".join(row["trap_hits"]) or "none"))
        lines += ["", _summary(variant)]
        lines += ["", "### Crude senders", "", "| client | outcome | as intended | detail |", "| --- | --- | --- | --- |"]
        for item in variant["crude"]:
            lines.append("| %s | %s | %s | %s |" % (item["client"], item["outcome"], "yes" if item["ok"] else "NO (expected %s)" % item["expected"],
                                                    " ".join(item["detail"].replace("|", "/").split())))
        if variant.get("walks"):
            lines += ["", "### Walking past the trap host (suppression on)", "",
                      "mx1's own addresses (primary and backstop) answer `421` at the greeting (*4xx*: overloaded or",
                      "greylisting) or refuse connections (*unreachable*), and so does mx2, while mx1's trap addresses still",
                      "reach its Postfix. Each MTA submits its messages and walks its MX list its own way; %.0f s later each runs"
                      % WALK_QUEUE_RUN_AFTER,
                      "its queue once (as its queue runner would); after %.0f s the MXes recover and every queue is flushed."
                      % WALK_OUTAGE,
                      "*Recorded*: whether the traps recorded the MTA (and so refused it afterwards): never, since each tried",
                      "mx1 first. An MTA that gives up after a few addresses (Postfix: `smtp_mx_address_limit` 5,",
                      "`smtp_mx_session_limit` 2; Exim: `hosts_max_try` 5, then its retry hints) never gets that far in",
                      "its first walk; its mail waits in its queue and arrives after the recovery. qmail defers the whole",
                      "message at mx1's `421` greeting and never walks on, so its mail arrives after the recovery.", "",
                      "| outage | MTA | delivered / sent | via a trap during the outage | after it | recorded |",
                      "| --- | --- | --- | --- | --- | --- |"]
            for walk in variant["walks"]:
                for row in walk["rows"]:
                    lines.append("| %s | %s | %d / %d | %d | %d | %s |" % (
                        walk["kind"], _mta_label(row), row["delivered"], row["sent"], row["via_trap"], row["after_recovery"],
                        ", ".join(row["trap_hits"]) or "no"))
            bots = [item for walk in variant["walks"] for item in walk["bot"]]
            if bots:
                lines += ["", "| spam bot | outcome | as intended | detail |", "| --- | --- | --- | --- |"]
                for item in bots:
                    lines.append("| %s | %s%s | %s | %s |" % (
                        item["client"], item["outcome"], ", recorded" if item.get("recorded") else "",
                        "yes" if item["ok"] else "NO (expected %s)" % item["expected"], " ".join(item["detail"].replace("|", "/").split())))
    lines += ["", "`failed` for a crude sender at the dropping dead primary means its connections timed out (%d s each)."
              % CRUDE_TIMEOUT["drop"],
              "A spam bot recorded in an earlier variant is still recorded (suppression lasts an hour after its last",
              "trap hit), so its trap connection is refused too."]
    return "\n".join(lines) + "\n"


def _greeting_variant_lines(variant):
    """The 4xx variant's section: per scenario who delivered and who deferred, the queues over the retries, qmail's log."""
    every, retries = variant.get("retry_every", FOUR_XX_RETRY_EVERY), variant.get("retries", FOUR_XX_RETRIES)
    lines = ["", "The dead primary's addresses are served by a listener that greets every connection with `421` (the role's",
             "firewall removed), instead of answering with a TCP reset. A measurement, not a pass mark. Each MTA submits its",
             "messages; every %.0f s each retries its whole queue (forced: `postqueue -f`, `exim4 -qff`, `smtpctl schedule" % every,
             "all`, `sendmail -q`, `SIGALRM` to qmail-send), %d times. *Queued*: the messages in the MTA's whole queue before" % retries,
             "each retry and at the end (with the primary down, what the first scenario left queued counts too). Crude",
             "senders are not run in this variant."]
    for scenario in variant["scenarios"]:
        lines += ["", "### %s (next live MX: %s), %d message(s) per MTA, watched for %.0f s" % (
            scenario["scenario"].capitalize(), scenario["expected_via"], variant["count"], scenario["waited"]), "",
            "| MTA | outcome | delivered / sent | via | median s | max s | queued | trap hits |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for row in scenario["rows"]:
            lines.append("| %s | %s | %d / %d | %s | %s | %s | %s | %s |" % (
                _mta_label(row), _greeting_outcome(row), row["delivered"], row["sent"], ", ".join(row["via"]) or "-",
                _figure(row["median"]), _figure(row["max"]), " / ".join(map(str, row.get("queued", ()))) or "-",
                ", ".join(row["trap_hits"]) or "none"))
        for row in scenario["rows"]:
            log = row.get("qmail_log")
            if log:
                reasons = "; ".join("%d x \"%s\"" % (count, reason) for reason, count in sorted(log["reasons"].items()))
                lines += ["", "qmail-send's log, %s: its %d message(s) had %d delivery attempt(s): %d success(es), %d deferral(s),"
                          " %d failure(s)%s." % (scenario["scenario"], log["messages"], log["success"] + log["deferral"] + log["failure"],
                                                 log["success"], log["deferral"], log["failure"], " - " + reasons if reasons else "")]
    after = variant.get("after_reset", {})
    if after:
        lines += ["", "After the reset was restored, one flush of every queue (*still queued*: what the greeting had held back):",
                  "", "| MTA | still queued | delivered then |", "| --- | --- | --- |"]
        for mta in MTAS:
            if mta in after:
                label = PRODUCT[mta] + (" (measured %s)" % after[mta]["measured"] if after[mta].get("measured") else "")
                lines.append("| %s | %d | %d |" % (label, after[mta]["queued"], after[mta]["delivered"]))
    return lines


def _greeting_outcome(row):
    """'moved on to the next MX' when every message arrived, 'deferred' when none did."""
    if row["delivered"] == row["sent"]:
        return "moved on to the next MX"
    return "deferred" if not row["delivered"] else "partly deferred"


def _summary(variant):
    """One sentence per variant: how much arrived, and the slowest message (of this run: carried rows left out)."""
    rows = [(scenario["scenario"], row) for scenario in variant["scenarios"] for row in scenario["rows"] if "measured" not in row]
    sent = sum(row["sent"] for dummy, row in rows)
    delivered = sum(row["delivered"] for dummy, row in rows)
    timed = [(row["max"], PRODUCT[row["mta"]], scenario) for scenario, row in rows if row["max"] is not None]
    slowest = max(timed) if timed else None
    text = "Delivered %d of %d messages" % (delivered, sent)
    if slowest:
        text += "; the slowest took %.2f s (%s, %s)" % slowest
    return text + "."


def _figure(value):
    return "-" if value is None else "%.2f" % value


def mxlab_cli(*args, check=False):
    subprocess.run([sys.executable, "-m", "lab.mxlab", *args], cwd=ROOT, capture_output=True, check=check)


def lab_spec(mtas=MTAS):
    spec = json.loads((ROOT / "lab" / "demo" / "spec.json").read_text(encoding="utf-8"))
    spec["name"] = "matrix"
    spec["hosts"] = spec["hosts"] + [host for host in MTA_HOSTS if host["name"] in mtas]
    return spec


def prepare_qmail(source_dir, cache_root):
    """(qmail's build folder, its tarball's SHA-256), or (None, {"reason", "refused"}) when qmail sits this run out."""
    try:
        return qmail.build(source_dir, cache_root)
    except qmail.Unavailable as error:
        return None, {"reason": error.reason, "refused": error.refused}


def load_previous(path):
    """The results an earlier run wrote to ``path`` (None if there are none, or they cannot be read)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def main():
    parser = argparse.ArgumentParser(prog="python -m lab.matrix.matrix", description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", choices=["reset", "drop", "4xx"], help="default: reset")
    parser.add_argument("--count", type=int, default=10, help="messages per MTA and scenario (default 10; drop: at most 2)")
    parser.add_argument("--walk-count", type=int, default=3,
                        help="messages per MTA and kind of outage in the walk past the trap host (reset only; 0: skip it)")
    parser.add_argument("--timeout", type=float, default=BATCH_TIMEOUT,
                        help="seconds to wait for a batch to arrive, a deadline (default %.0f; drop: at least 900)" % BATCH_TIMEOUT)
    parser.add_argument("--state-dir", default=str(ROOT / ".cache" / "matrix"))
    parser.add_argument("--debs", default=str(ROOT / ".cache" / "mta-debs"), help="where .ci/download-mtas put the packages")
    parser.add_argument("--mta-src", default=str(ROOT.parent / "shared" / "mta-src"),
                        help="the folder with %s and SHA256SUMS (default ../shared/mta-src); without it qmail is skipped" % qmail.TARBALL)
    parser.add_argument("--results", default=None, help="write the figures as JSON here")
    parser.add_argument("--docs", default=None, help="write the Markdown page here (for example docs/compatibility.md)")
    parser.add_argument("--keep-lab", action="store_true")
    parser.add_argument("--render-only", metavar="RESULTS", help="only turn saved --results JSON into the --docs page")
    args = parser.parse_args()
    if args.render_only:
        Path(args.docs).write_text(render_docs(json.loads(Path(args.render_only).read_text(encoding="utf-8"))), encoding="utf-8")
        return 0
    variants = args.variant or ["reset"]
    started = time.monotonic()
    qmail_build, qmail_source = prepare_qmail(args.mta_src, ROOT / ".cache")
    mtas = MTAS if qmail_build else tuple(mta for mta in MTAS if mta != "qmail")
    skipped = {} if qmail_build else {"qmail": qmail_source}
    if qmail_build:
        print("qmail: %s, built in %s (%.0f s)" % (qmail.version(qmail_source), qmail_build, time.monotonic() - started))
    else:
        consequence = (" (a problem of this run)" if qmail_source["refused"]
                       else "; the other MTAs run, the docs keep qmail's last measured figures")
        print("qmail skipped: %s%s" % (qmail_source["reason"], consequence))
    state = Path(args.state_dir).resolve()
    spec_file = state.parent / "matrix-spec.json"
    spec_file.parent.mkdir(parents=True, exist_ok=True)
    spec_file.write_text(json.dumps(lab_spec(mtas), indent=2), encoding="utf-8")
    mxlab_cli("down", "--state-dir", str(state), "--name", "matrix")
    mxlab_cli("up", str(spec_file), "--state-dir", str(state), check=True)
    lab = Lab(state, mtas)
    try:
        started = time.monotonic()
        qmail_vars = ["-e", "matrix_qmail_build=" + str(qmail_build)] if qmail_build else []
        lab.playbook(HERE / "prepare.yml", "-e", "matrix_debs_dir=" + str(Path(args.debs).resolve()), *qmail_vars)
        lab.playbook(ROOT / "playbooks" / "harden-mx.yml")
        print("lab ready, layout published in %.0f s" % (time.monotonic() - started))
        versions = {mta: lab.run(mta, VERSION_COMMANDS[mta]).stdout.strip() for mta in mtas if mta in VERSION_COMMANDS}
        if qmail_build:
            versions["qmail"] = qmail.version(qmail_source)
        addresses = {host["name"]: [a.split("/", maxsplit=1)[0] for a in host["addresses"]] for host in MTA_HOSTS}
        results = {"date": datetime.date.today().isoformat(), "versions": versions, "variants": [], "skipped": skipped}
        for variant in variants:
            count = args.count if variant == "reset" else min(args.count, 2)
            timeout = args.timeout if variant == "reset" else max(args.timeout, 900.0)
            results["variants"].append(run_variant(lab, variant, count, timeout, addresses, args.walk_count))
        if "reset" not in variants:
            lab.playbook(HERE / "dead-action.yml", "-e", "dead_primary_action=reset")
    finally:
        if not args.keep_lab:
            mxlab_cli("down", "--state-dir", str(state), "--name", "matrix")
    for mta in skipped:
        if args.results and carry_over(results, load_previous(args.results), mta):
            print("%s: the docs keep the figures measured on %s" % (mta, results["measured"][mta]))
        print("%s skipped: %s" % (mta, skipped[mta]["reason"]))
    if args.results:
        Path(args.results).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.docs:
        Path(args.docs).write_text(render_docs(results), encoding="utf-8")
    found = problems(results)
    print("\n" + "\n".join("FAIL: " + problem for problem in found))
    print("RESULT: " + ("OK" if not found else "FAILED (%d problem(s))" % len(found)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
