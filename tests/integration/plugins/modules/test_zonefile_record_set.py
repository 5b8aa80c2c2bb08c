"""zonefile_record_set, run through main() in-process, on a realistic zone file (comments, $TTL, $ORIGIN, a relative
$INCLUDE, TXT, CNAME, SRV, NS, a multi-line SOA); each result is loaded into real BIND 9 and Knot DNS on 127.0.0.1
(tests/integration/dns/servers.py) and queried, as a resolver would see it.

The files are compared byte for byte: the lines of our RRsets and the serial change, nothing else."""

import datetime
import json
import os
import pathlib
import subprocess
import sys

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _zonefile
from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_record_sets
from ansible_collections.mailsec.mx.plugins.module_utils._zonefile import ZoneFileProvider
from ansible_collections.mailsec.mx.plugins.modules import zonefile_record_set
from tests.integration.dns import servers
from tests.module_main import run_main

ROOT = pathlib.Path(__file__).resolve().parents[4]
ZONE = "example.test."
TTL = 300
TODAY = datetime.date(2026, 11, 30)

ORIGINAL = """\
; example.test - the mail domain's zone, kept in git
; reviewed by the postmaster team; do not reformat
$TTL 1h
$ORIGIN example.test.
@   IN  SOA ns1.example.test. hostmaster.example.test. (
            2024010100 ; serial
            3600       ; refresh
            600        ; retry
            1209600    ; expire
            300 )      ; negative TTL
    IN  NS  ns1
    IN  NS  ns2.example.net.
    IN  MX  50 old-mx.example.net.   ; the MX before the layout
    IN  TXT "v=spf1 mx -all; see https://example.test/spf"
ns1 IN A 198.51.100.53

; web
www 300 IN CNAME web
web IN A 198.51.100.80
    IN AAAA 2001:db8::80
_submission._tcp IN SRV 0 1 587 submission.example.net.
_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.test"
mail IN A 203.0.113.99   ; the old mail host
$INCLUDE hosts.inc
$ORIGIN lab.example.test.
build IN A 198.51.100.90
"""
INCLUDED = "; hosts another team keeps\nprinter IN A 198.51.100.60 ; first floor\n"
OLD_MX_LINE = "    IN  MX  50 old-mx.example.net.   ; the MX before the layout\n"
OLD_MAIL_LINE = "mail IN A 203.0.113.99   ; the old mail host\n"
SERIAL_LINE = "            2024010100 ; serial\n"

# What the zone serves apart from our RRsets, as BIND and Knot answer it: never changed by the module.
OTHERS = {
    (ZONE, "NS"): {"ns1.example.test.", "ns2.example.net."},
    (ZONE, "TXT"): {'"v=spf1 mx -all; see https://example.test/spf"'},
    ("ns1.example.test.", "A"): {"198.51.100.53"},
    ("www.example.test.", "CNAME"): {"web.example.test."},
    ("web.example.test.", "A"): {"198.51.100.80"},
    ("web.example.test.", "AAAA"): {"2001:db8::80"},
    ("_submission._tcp.example.test.", "SRV"): {"0 1 587 submission.example.net."},
    ("_dmarc.example.test.", "TXT"): {'"v=DMARC1; p=reject; rua=mailto:dmarc@example.test"'},
    ("printer.example.test.", "A"): {"198.51.100.60"},
    ("build.lab.example.test.", "A"): {"198.51.100.90"},
}
OURS = [(ZONE, "MX")] + [(host + ".example.test.", rtype) for host in ("nolist", "mail", "backstop") for rtype in ("A", "AAAA")]


def nolisting(mail="203.0.113.20", backstop=True):
    layout = [
        {"preference": 10, "host": "nolist.example.test.", "role": "dead", "addresses": ["203.0.113.10", "2001:db8::10"]},
        {"preference": 20, "host": "mail.example.test.", "role": "live", "addresses": [mail]},
    ]
    if backstop:
        layout.append({"preference": 30, "host": "backstop.example.test.", "role": "backstop", "addresses": [mail]})
    return layout_record_sets(layout, ZONE, ttl=TTL)


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(_zonefile, "utc_today", lambda: TODAY)


@pytest.fixture(name="zone_file")
def fixture_zone_file(tmp_path):
    directory = tmp_path / "zones"
    directory.mkdir()
    (directory / "hosts.inc").write_text(INCLUDED)
    path = directory / "example.test.zone"
    path.write_text(ORIGINAL)
    return path


def run(capsys, path, record_sets, **args):
    return run_main(zonefile_record_set, capsys, path=str(path), zone="example.test", record_sets=record_sets, **args)


def served(path, tmp_path, label):
    """Load ``path`` into a fresh BIND and a fresh Knot; {kind: {(name, type): values}} of everything we look at."""
    answers = {}
    for kind, start, options in (("bind", servers.start_bind, {"directory": path.parent}), ("knot", servers.start_knot, {})):
        reason = servers.missing(kind)
        if reason:
            pytest.skip(reason)
        server = start(tmp_path / ("%s-%s" % (kind, label)), [ZONE], zone_files={ZONE: path}, **options)
        try:
            answers[kind] = {key: values for key in list(OTHERS) + OURS for values in [server.query(*key)] if values}
        finally:
            server.stop()
    return answers


def expected_answers(record_sets):
    wanted = dict(OTHERS)
    wanted.update({(record_set["name"], record_set["type"]): set(record_set["values"]) for record_set in record_sets})
    return wanted


def kept_lines(text):
    """The lines that are not ours (neither as the original had them nor as the module writes them), serial aside."""
    ours = tuple("%s %d IN %s " % (name, TTL, rtype) for name, rtype in OURS)
    return [line for line in text.splitlines(True)
            if line not in (OLD_MX_LINE, OLD_MAIL_LINE) and not line.startswith(ours) and not line.endswith(" ; serial\n")]


def test_lifecycle_on_a_realistic_zone_file_served_by_bind_and_knot(zone_file, tmp_path, capsys):
    original = {**OTHERS, (ZONE, "MX"): {"50 old-mx.example.net."}, ("mail.example.test.", "A"): {"203.0.113.99"}}
    assert served(zone_file, tmp_path, "original") == {"bind": original, "knot": original}

    # Publish: the MX replaces the old MX line where it was; mail's A cannot stay before the $INCLUDE (the included
    # file could inherit from it), so it goes to the end with the new RRsets.
    first = nolisting()
    result = run(capsys, zone_file, first, _ansible_diff=True)
    assert result["changed"] is True, result
    assert len(result["changes"]) == 5
    published = (ORIGINAL.replace(SERIAL_LINE, "            2026113000 ; serial\n")
                 .replace(OLD_MX_LINE, "example.test. 300 IN MX 10 nolist.example.test.\nexample.test. 300 IN MX 20 mail.example.test.\n"
                                       "example.test. 300 IN MX 30 backstop.example.test.\n")
                 .replace(OLD_MAIL_LINE, "")
                 + "backstop.example.test. 300 IN A 203.0.113.20\nmail.example.test. 300 IN A 203.0.113.20\n"
                 + "nolist.example.test. 300 IN A 203.0.113.10\nnolist.example.test. 300 IN AAAA 2001:db8::10\n")
    assert zone_file.read_text() == published
    assert result["diff"] == {"before": ORIGINAL, "after": published, "before_header": str(zone_file), "after_header": str(zone_file)}
    assert (zone_file.parent / "hosts.inc").read_text() == INCLUDED
    assert served(zone_file, tmp_path, "published") == {"bind": expected_answers(first), "knot": expected_answers(first)}

    # Rerun: nothing changes, not a byte.
    result = run(capsys, zone_file, first)
    assert (result["changed"], result["changes"]) == (False, [])
    assert zone_file.read_text() == published

    # Change: new mail address, no backstop in the MX (its A is not listed any more: left alone). In place.
    second = nolisting(mail="203.0.113.21", backstop=False)
    result = run(capsys, zone_file, second, _ansible_diff=True)
    assert {(change["name"], change["type"]) for change in result["changes"]} == {(ZONE, "MX"), ("mail.example.test.", "A")}
    changed = (published.replace("2026113000 ; serial", "2026113001 ; serial")
               .replace("example.test. 300 IN MX 30 backstop.example.test.\n", "")
               .replace("mail.example.test. 300 IN A 203.0.113.20\n", "mail.example.test. 300 IN A 203.0.113.21\n"))
    assert zone_file.read_text() == changed == result["diff"]["after"]
    assert kept_lines(changed) == kept_lines(ORIGINAL)
    expected = {**expected_answers(second), ("backstop.example.test.", "A"): {"203.0.113.20"}}
    assert served(zone_file, tmp_path, "changed") == {"bind": expected, "knot": expected}

    # Check mode: reported, validated, not written.
    result = run(capsys, zone_file, nolisting(mail="203.0.113.99"), _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True and "mail.example.test. 300 IN A 203.0.113.99\n" in result["diff"]["after"]
    assert zone_file.read_text() == changed

    # Absent: every listed RRset goes; the rest of the zone stays.
    result = run(capsys, zone_file, first, state="absent")
    assert result["changed"] is True and all(change["after"] is None for change in result["changes"])
    removed = zone_file.read_text()
    assert kept_lines(removed) == kept_lines(ORIGINAL)
    assert [line for line in removed.splitlines(True) if line not in kept_lines(removed)] == ["            2026113002 ; serial\n"]
    assert served(zone_file, tmp_path, "removed") == {"bind": OTHERS, "knot": OTHERS}
    result = run(capsys, zone_file, first, state="absent")
    assert result["changed"] is False and zone_file.read_text() == removed


def test_named_checkzone_rejecting_the_result_leaves_the_file_untouched(zone_file, capsys):
    mx_to_cname = [{"name": ZONE, "type": "MX", "ttl": TTL, "values": ["10 www.example.test."]}]
    result = run(capsys, zone_file, mx_to_cname)
    assert result["failed"] is True
    assert result["msg"].startswith("zone example.test.: named-checkzone refuses the new zone file %s: " % zone_file)
    assert "example.test/MX 'www.example.test' is a CNAME (illegal)" in result["msg"]
    assert result["msg"].endswith("; nothing was written")
    assert zone_file.read_text() == ORIGINAL
    assert sorted(os.listdir(zone_file.parent)) == ["example.test.zone", "hosts.inc"]


def test_a_concurrent_edit_of_the_file_is_not_overwritten(zone_file, capsys, monkeypatch):
    real_validate = ZoneFileProvider.validate
    edited = ORIGINAL.replace("build IN A 198.51.100.90", "build IN A 198.51.100.91 ; moved by a colleague")

    def validate_while_a_colleague_saves(self, zone, path, text):
        real_validate(self, zone, path, text)
        zone_file.write_text(edited)

    monkeypatch.setattr(ZoneFileProvider, "validate", validate_while_a_colleague_saves)
    result = run(capsys, zone_file, nolisting())
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: someone changed the zone file %s since it was read; nothing was changed, run again" % zone_file
    assert zone_file.read_text() == edited


def test_a_concurrent_change_of_our_rrset_is_detected(zone_file, capsys, monkeypatch):
    real_read = ZoneFileProvider.read
    reads = []

    def read_then_a_colleague_moves_mail(self, zone, keys):
        current = real_read(self, zone, keys)
        if not reads:
            zone_file.write_text(ORIGINAL.replace(OLD_MAIL_LINE, "mail IN A 203.0.113.98   ; the old mail host\n"))
        reads.append(zone)
        return current

    monkeypatch.setattr(ZoneFileProvider, "read", read_then_a_colleague_moves_mail)
    result = run(capsys, zone_file, nolisting())
    assert result["msg"] == "zone example.test.: someone changed mail.example.test. A since it was read; nothing was changed, run again"
    assert "203.0.113.98" in zone_file.read_text()


def test_a_missing_file_fails_clearly_and_creates_nothing(tmp_path, capsys):
    path = tmp_path / "example.test.zone"
    result = run(capsys, path, nolisting())
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: the zone file %s does not exist; create it first (with its SOA and NS records)" % path
    assert os.listdir(tmp_path) == []


def chattr(flag, path):
    return subprocess.run(["chattr", flag, str(path)], capture_output=True, text=True, check=False)


def test_an_immutable_file_fails_clearly_and_nothing_changes(zone_file, capsys):
    made = chattr("+i", zone_file)
    if made.returncode != 0:
        pytest.skip("chattr +i is not supported here: %s" % made.stderr.strip())
    try:
        result = run(capsys, zone_file, nolisting())
    finally:
        chattr("-i", zone_file)
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: cannot replace the zone file %s: Operation not permitted; nothing was changed" % zone_file
    assert zone_file.read_text() == ORIGINAL
    assert sorted(os.listdir(zone_file.parent)) == ["example.test.zone", "hosts.inc"]


def test_a_read_only_directory_fails_clearly_and_nothing_changes(zone_file, tmp_path):
    """The module as Ansible runs it (a separate Python process), in a private mount namespace where the zone's
    directory is a read-only bind mount: the file cannot be replaced."""
    args = tmp_path / "args.json"
    args.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"path": str(zone_file), "zone": "example.test", "record_sets": nolisting()}}))
    directory = str(zone_file.parent)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    env = dict(os.environ, PYTHONPATH=str(ROOT / ".cache" / "collections"))
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", directory,
               sys.executable, str(ROOT / "plugins" / "modules" / "zonefile_record_set.py"), str(args)]
    finished = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    if "mount:" in finished.stderr or "unshare:" in finished.stderr:
        pytest.skip("no private mount namespace here: %s" % finished.stderr.strip())
    result = json.loads(finished.stdout)
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: cannot write the zone file %s: Read-only file system; nothing was changed" % zone_file
    assert zone_file.read_text() == ORIGINAL
    assert sorted(os.listdir(zone_file.parent)) == ["example.test.zone", "hosts.inc"]
