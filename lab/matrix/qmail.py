"""qmail in the compatibility matrix: notqmail 1.09 from ../shared/mta-src, built once, driven through its own queue.

Debian 12 ships no qmail, so the matrix builds notqmail 1.09 (qmail 1.03's maintained successor) from the tarball
that ../shared/mta-src/ holds, after checking it against that folder's SHA256SUMS (a mismatch is refused: nothing is
built). The build (`make it man`, a few seconds) lands in .cache/qmail/<sha256>/ and is reused by every later run
with the same tarball. prepare.yml installs it into the lab host `qmail` with qmail's own installers (instpackage,
instchown: /var/qmail in the host's private /var, its users in the host's private /etc) and starts qmail-start.

Why the queue and not qmail-remote per message: what the matrix measures is what a qmail site does with a message,
and that is qmail-send's doing as much as qmail-remote's. qmail-send hands each remote recipient to qmail-rspawn,
which runs qmail-remote (MX lookup through the host's resolver, the walk, the SMTP dialogue) and reads its status;
a deferral ('Z') leaves the message queued for the next retry, a success or a failure ends it. Driving the queue
keeps every one of those steps qmail's own - nothing here re-implements rspawn's reading of qmail-remote's status
or qmail-send's retry bookkeeping. Only the schedule is shortened: qmail-send's first retry of a remote delivery
comes 400 s after the first try (then ~27 min, ~1 h, ...), so the matrix makes it retry at once with SIGALRM, as
`svc -a` does on a qmail site - the same as `postqueue -f` for Postfix.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

TARBALL = "notqmail-1.09.tar.gz"
SUMS = "SHA256SUMS"
PRODUCT_VERSION = "notqmail 1.09"
# What the build leaves for prepare.yml: the installers and everything they copy (qmail's own Makefile targets).
BUILD_TARGETS = ["it", "man"]
# The manual pages are part of what instpackage copies; their formatting is not under test (no groff needed).
BUILD_VARIABLES = ["NROFF=true"]
BUILT_MARKER = ".matrix-built"
# In the lab host (prepare.yml starts qmail-start so; its log is qmail-send's, on qmail-start's standard output).
QMAIL_HOME = "/var/qmail"
LOG = "/var/log/qmail.log"
PID_FILE = "/run/qmail-send.pid"
SENDMAIL = QMAIL_HOME + "/bin/sendmail"
# "Retry every deferred message now", as `svc -a` does: qmail-send reschedules its whole queue on SIGALRM.
QUEUE_RUN = ["sh", "-c", "kill -ALRM \"$(cat %s)\"" % PID_FILE]
# Forget the connect timeouts qmail-remote remembers (it skips such addresses for an hour), like Exim's retry hints.
FORGET_TIMEOUTS = [QMAIL_HOME + "/bin/qmail-tcpok"]
QUEUE_SIZE = [QMAIL_HOME + "/bin/qmail-qstat"]


class Unavailable(Exception):
    """qmail cannot take part in this run. ``refused``: the tarball is there but does not match its checksum (a
    problem of the run), as opposed to a machine without ../shared/mta-src (qmail is skipped, the rest runs)."""

    def __init__(self, reason, refused=False):
        super().__init__(reason)
        self.reason = reason
        self.refused = refused


def listed_checksum(sums_text, name=TARBALL):
    """The SHA-256 that a SHA256SUMS text lists for ``name`` (lower case), or None."""
    for line in sums_text.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == name and re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
            return fields[0].lower()
    return None


def file_checksum(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(source_dir):
    """The tarball's SHA-256 once it matches SHA256SUMS; Unavailable otherwise (refused=True on a mismatch)."""
    source_dir = Path(source_dir)
    tarball, sums = source_dir / TARBALL, source_dir / SUMS
    if not tarball.is_file():
        raise Unavailable("%s not found (Debian 12 has no qmail package; CI has ../shared/mta-src)" % tarball)
    if not sums.is_file():
        raise Unavailable("%s not found: %s cannot be checked" % (sums, TARBALL), refused=True)
    wanted = listed_checksum(sums.read_text(encoding="utf-8", errors="replace"))
    if wanted is None:
        raise Unavailable("%s lists no checksum for %s" % (sums, TARBALL), refused=True)
    found = file_checksum(tarball)
    if found != wanted:
        raise Unavailable("%s: SHA-256 %s, but %s lists %s: not building it" % (tarball, found, sums, wanted), refused=True)
    return found


def build_dir(cache_root, checksum):
    return Path(cache_root) / "qmail" / checksum


def build(source_dir, cache_root):
    """(the folder with the built tree, the tarball's SHA-256); builds only when that checksum's build is missing."""
    checksum = verify(source_dir)
    target = build_dir(cache_root, checksum)
    if (target / BUILT_MARKER).is_file():
        return target, checksum
    target.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed into it, so a run that stops halfway never leaves a tree that looks built.
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
    try:
        with tarfile.open(Path(source_dir) / TARBALL) as archive:
            archive.extractall(work, filter="data")
        tops = [entry for entry in work.iterdir() if entry.is_dir()]
        if len(tops) != 1:
            raise Unavailable("%s does not unpack to one folder" % TARBALL, refused=True)
        result = subprocess.run(["make", *BUILD_TARGETS, *BUILD_VARIABLES], cwd=tops[0], capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError("building %s failed (make %s):\n%s" % (TARBALL, " ".join(BUILD_TARGETS),
                                                                      (result.stdout + result.stderr)[-3000:]))
        (tops[0] / BUILT_MARKER).write_text(checksum + "\n", encoding="utf-8")
        shutil.rmtree(target, ignore_errors=True)
        tops[0].rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target, checksum


def version(checksum):
    return "%s (%s, SHA-256 %s)" % (PRODUCT_VERSION, TARBALL, checksum)


# qmail-send's log: "new msg 41", "starting delivery 7: msg 41 to remote demo@example.test", then
# "delivery 7: deferral: Connected_to_198.51.100.11_but_greeting_failed./Remote_host_said:_421_.../" and the like.
_NEW = re.compile(r"new msg (\d+)")
_START = re.compile(r"starting delivery (\d+): msg (\d+) to remote ")
_DELIVERY = re.compile(r"delivery (\d+): (success|failure|deferral): (\S*)")


def deliveries(log_text):
    """The remote delivery attempts in ``log_text`` (a piece of qmail-send's log) of the messages queued in it:
    {"messages": n, "success": n, "failure": n, "deferral": n, "reasons": {reason: n}}. Messages queued earlier are
    left out, so a piece covers its own messages only. Reasons read as qmail-remote wrote them (qmail-send logs
    blanks as '_' and line ends as '/')."""
    counts = {"messages": 0, "success": 0, "failure": 0, "deferral": 0, "reasons": {}}
    new, message_of = set(), {}
    for line in log_text.splitlines():
        if match := _NEW.search(line):
            new.add(match.group(1))
            counts["messages"] += 1
        elif match := _START.search(line):
            message_of[match.group(1)] = match.group(2)
        elif match := _DELIVERY.search(line):
            delivery, outcome, reason = match.groups()
            if message_of.get(delivery) not in new:
                continue
            counts[outcome] += 1
            if outcome != "success":
                text = " ".join(part for part in reason.replace("_", " ").split("/") if part.strip())
                counts["reasons"][text] = counts["reasons"].get(text, 0) + 1
    return counts
