"""The zone file provider: the scanner, the serial, and edits checked by the real named-checkzone.

Every edit test states the whole expected file: the lines of our RRsets change, the serial changes, and every
other byte stays as it was."""

import datetime
import os
import shutil
import subprocess

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _zonefile
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, RecordSet, RecordSetError, converge_zone
from ansible_collections.mailsec.mx.plugins.module_utils._zonefile import (
    Scan, ZoneFileError, ZoneFileProvider, is_date_serial, next_serial, parse_ttl, serial_greater)

ZONE = "example.test."
TODAY = datetime.date(2026, 11, 30)
needs_checkzone = pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="named-checkzone is not installed (bind9-utils)")

HEAD = """; example.test, kept in git
$ORIGIN example.test.
$TTL 300
@ IN SOA ns hostmaster ( 2024010100 ; serial
        3600 600 86400 300 )
  IN NS ns
ns A 192.0.2.53
"""
SERIAL_LINE = "@ IN SOA ns hostmaster ( 2024010100 ; serial\n"
NEW_SERIAL_LINE = "@ IN SOA ns hostmaster ( 2026113000 ; serial\n"


def rrset(name, rtype, ttl, *values):
    return RecordSet(name, rtype, ttl, values)


def make_provider(path, **options):
    return ZoneFileProvider({ZONE: {"path": str(path)}}, today=lambda: TODAY, **options)


def converge(path, wanted, state="present", check_mode=False, **options):
    return converge_zone(make_provider(path, **options), ZONE, wanted, state, check_mode)


def zone_file(tmp_path, text, name="example.test.zone"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


# --- the scanner (no named-checkzone) ------------------------------------------------------------------------

def resolved(text, zone=ZONE):
    scan = Scan(text, zone)
    return [(entry.first + 1, entry.owner, entry.rtype, entry.ttl, entry.owner_explicit, entry.ttl_explicit)
            for entry in scan.entries if entry.kind == "record"]


def test_scanner_resolves_owners_ttls_classes_and_origins():
    text = (HEAD
            + "mail 600 IN A 198.51.100.20 ; TTL then class\n"
            + "\tIN 700 AAAA 2001:db8::20 ; class then TTL, owner inherited\n"
            + '\tTXT "v=spf1 -all; not a comment" "(nor a parenthesis)"\n'
            + "www.example.test. 1h CNAME mail\n"
            + "* 1H30m MX 10 mail\n"
            + "$ORIGIN sub.example.test.\n"
            + "host A 198.51.100.30\n"
            + "@ MX 10 host\n"
            + "$TTL 1W\n"
            + "\tA 198.51.100.31\n")
    assert resolved(text) == [
        (4, "example.test.", "SOA", 300, True, False),
        (6, "example.test.", "NS", 300, False, False),
        (7, "ns.example.test.", "A", 300, True, False),
        (8, "mail.example.test.", "A", 600, True, True),
        (9, "mail.example.test.", "AAAA", 700, False, True),
        (10, "mail.example.test.", "TXT", 300, False, False),
        (11, "www.example.test.", "CNAME", 3600, True, True),
        (12, "*.example.test.", "MX", 5400, True, True),
        (14, "host.sub.example.test.", "A", 300, True, False),
        (15, "sub.example.test.", "MX", 300, True, False),
        (17, "sub.example.test.", "A", 604800, False, False),
    ]


def test_scanner_finds_the_serial_inside_parentheses_and_keeps_quoted_semicolons():
    scan = Scan(HEAD + 'txt TXT "a;b" ( "c)d" ) ; comment\n', ZONE)
    (soa,) = scan.soa
    serial = soa.positions(scan.lines)[soa.rdata + 2]
    assert serial == (3, 25, 35, "2024010100")
    (txt,) = scan.by_key["txt.example.test.", "TXT"]
    assert txt.words[txt.rdata:] == ['"a;b"', '"c)d"']


def test_scanner_without_ttl_directive_inherits_the_last_ttl():
    text = ("$ORIGIN example.test.\n@ 600 IN SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\n"
            "mail 120 A 198.51.100.20\nwww A 198.51.100.21\n")
    assert [entry[3] for entry in resolved(text)] == [600, 600, 120, 120]


def test_scanner_reads_crlf_files_alike():
    text = HEAD + "mail A 198.51.100.20\n\tAAAA 2001:db8::20\n"
    crlf = Scan(text.replace("\n", "\r\n"), ZONE)
    assert crlf.eol == "\r\n" and Scan(text, ZONE).eol == "\n"
    assert resolved(text.replace("\n", "\r\n")) == resolved(text)


@pytest.mark.parametrize("line, message", [
    ("bad TXT ( \"open\"\n", r"line 8: '\(' is never closed"),
    ("bad TXT \"open\n", "line 8: unbalanced quote"),
    ("bad TXT ) x\n", r"line 8: '\)' without '\('"),
    ("bad 3x A 198.51.100.1\n", "line 8: '3x' is not a TTL"),
    ("bad IN\n", "line 8: a record without a type"),
], ids=["paren", "quote", "close", "ttl", "type"])
def test_scanner_errors_name_the_line(line, message):
    with pytest.raises(ZoneFileError, match=message):
        Scan(HEAD + line, ZONE)


def test_a_blank_owner_needs_an_owner_before_it():
    with pytest.raises(ZoneFileError, match="line 2: a record with a blank owner and no owner before it"):
        Scan("$ORIGIN example.test.\n\tA 198.51.100.1\n", ZONE)


@pytest.mark.parametrize("text, seconds", [("0", 0), ("300", 300), ("1h", 3600), ("1H30m", 5400), ("2w1d", 1296000), ("1d1", 86401)])
def test_ttl_units(text, seconds):
    assert parse_ttl(text, 1) == seconds


# --- the serial ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("old, new", [
    (2024010100, 2026113000),  # an older date: today's first
    (2026113000, 2026113001),  # today: the next
    (2026113099, 2026113100),  # the 100th change today borrows tomorrow's first, as BIND's date method does
    (2030010100, 2030010101),  # ahead of today: one more
    (2024023100, 2024023101),  # not a date (31 February): a plain counter
    (7, 8),
    (0, 1),
    (4294967294, 4294967295),
    (4294967295, 1),  # wraps (RFC 1982), past 0
])
def test_next_serial(old, new):
    assert next_serial(old, TODAY) == new
    assert serial_greater(new, old)


def test_date_serials_are_real_dates():
    assert is_date_serial(2026022800) and not is_date_serial(2026022900) and not is_date_serial(202602280)


# --- edits, checked by named-checkzone -------------------------------------------------------------------------

@needs_checkzone
def test_publish_writes_only_our_lines_and_the_serial(tmp_path):
    text = (HEAD
            + "; the mail hosts\n"
            + "mail A 198.51.100.20 ; old address\n"
            + "\tAAAA 2001:db8::20\n"
            + '\tTXT "v=spf1 -all; really"\n'
            + "www CNAME mail\n"
            + "_sip._tcp SRV 10 60 5060 mail\n")
    path = zone_file(tmp_path, text)
    wanted = [rrset("mail.example.test.", "A", 300, "198.51.100.21"), rrset("example.test.", "MX", 300, "10 mail.example.test."),
              rrset("nolist.example.test.", "A", 300, "203.0.113.10")]
    changes, diff = converge(path, wanted)
    assert [change.key for change in changes] == [("mail.example.test.", "A"), ("nolist.example.test.", "A"), ("example.test.", "MX")]
    expected = (HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE).replace(
                "  IN NS ns\n", "  IN NS ns\nexample.test. 300 IN MX 10 mail.example.test.\n")
                + "; the mail hosts\n"
                + "mail.example.test. 300 IN A 198.51.100.21\n"
                + "\tAAAA 2001:db8::20\n"
                + '\tTXT "v=spf1 -all; really"\n'
                + "www CNAME mail\n"
                + "_sip._tcp SRV 10 60 5060 mail\n"
                + "nolist.example.test. 300 IN A 203.0.113.10\n")
    assert path.read_text() == expected
    assert diff == {"before": text, "after": expected, "before_header": str(path), "after_header": str(path)}
    # A rerun changes nothing, not even the serial.
    assert converge(path, wanted) == ([], {"before": "", "after": "", "before_header": str(path), "after_header": str(path)})
    assert path.read_text() == expected
    assert sorted(os.listdir(tmp_path)) == ["example.test.zone"]


@needs_checkzone
def test_removing_a_line_that_lends_its_owner_writes_the_owner_out(tmp_path):
    text = HEAD + "mail A 198.51.100.20\n\tA 198.51.100.21\n\tAAAA 2001:db8::20 ; keep\n\tTXT \"kept\"\nwww A 198.51.100.22\n"
    path = zone_file(tmp_path, text)
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")], state="absent")
    assert path.read_text() == (HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE)
                                + "mail.example.test.\tAAAA 2001:db8::20 ; keep\n\tTXT \"kept\"\nwww A 198.51.100.22\n")


@needs_checkzone
def test_without_ttl_directive_a_removed_ttl_is_written_out_and_new_lines_never_lend_theirs(tmp_path):
    head = "$ORIGIN example.test.\n@ 600 IN SOA ns hostmaster 7 3600 600 86400 300\n@ NS ns\nns A 192.0.2.53\n"
    text = head + "mail 120 A 198.51.100.20\nwww A 198.51.100.22\nmail2 A 198.51.100.23\n"
    path = zone_file(tmp_path, text)
    # mail's A goes; www and mail2 took their TTL (120) from it: www now says so itself.
    converge(path, [rrset("mail.example.test.", "A", 120, "198.51.100.20")], state="absent")
    after_removal = head.replace(" 7 ", " 8 ") + "www 120 A 198.51.100.22\nmail2 A 198.51.100.23\n"
    assert path.read_text() == after_removal
    # A new AAAA for www cannot follow www's line (mail2 would take 300 from it): it goes to the end.
    converge(path, [rrset("www.example.test.", "AAAA", 300, "2001:db8::22")])
    assert path.read_text() == after_removal.replace(" 8 ", " 9 ") + "www.example.test. 300 IN AAAA 2001:db8::22\n"


@needs_checkzone
def test_a_replaced_rrset_stays_where_it_was_when_the_next_line_inherits_the_same(tmp_path):
    text = HEAD + "mail A 198.51.100.20\n\tA 198.51.100.21\n\tAAAA 2001:db8::20\nwww A 198.51.100.22\n"
    path = zone_file(tmp_path, text)
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.29")])
    assert path.read_text() == (HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE)
                                + "mail.example.test. 300 IN A 198.51.100.29\n\tAAAA 2001:db8::20\nwww A 198.51.100.22\n")


@needs_checkzone
def test_origin_changes_mid_file_and_wildcards(tmp_path):
    text = HEAD + "$ORIGIN mail.example.test.\n@ A 198.51.100.20\nsmtp A 198.51.100.25\n$ORIGIN example.test.\n* MX 10 mail\n"
    path = zone_file(tmp_path, text)
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.21"), rrset("*.example.test.", "MX", 300, "20 mail.example.test.")])
    assert path.read_text() == (HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE) + "$ORIGIN mail.example.test.\n"
                                + "mail.example.test. 300 IN A 198.51.100.21\nsmtp A 198.51.100.25\n$ORIGIN example.test.\n"
                                + "*.example.test. 300 IN MX 20 mail.example.test.\n")


@needs_checkzone
def test_crlf_files_get_crlf_lines_and_a_missing_final_newline_is_added(tmp_path):
    text = HEAD.replace("\n", "\r\n") + "www A 198.51.100.22"
    path = zone_file(tmp_path, text)
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_bytes() == (HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE).replace("\n", "\r\n")
                                 + "www A 198.51.100.22\r\nmail.example.test. 300 IN A 198.51.100.20\r\n").encode()


@needs_checkzone
def test_bytes_that_are_not_utf8_are_kept(tmp_path):
    path = zone_file(tmp_path, HEAD.encode() + b"; caf\xe9\nwww TXT \"caf\xe9\"\n")
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_bytes() == (HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE).encode()
                                 + b"; caf\xe9\nwww TXT \"caf\xe9\"\nmail.example.test. 300 IN A 198.51.100.20\n")


@needs_checkzone
def test_check_mode_validates_and_writes_nothing(tmp_path):
    path = zone_file(tmp_path, HEAD)
    changes, diff = converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")], check_mode=True)
    assert changes and diff["after"].endswith("mail.example.test. 300 IN A 198.51.100.20\n")
    assert path.read_text() == HEAD
    # The new text is checked in check mode too: removing the name server's address is refused.
    with pytest.raises(ProviderError, match=r"named-checkzone refuses .*NS 'ns\.example\.test' has no address records"):
        converge(path, [rrset("ns.example.test.", "A", 300, "192.0.2.53")], state="absent", check_mode=True)
    assert path.read_text() == HEAD


# --- what is refused, and nothing written ----------------------------------------------------------------------

@needs_checkzone
def test_our_records_in_an_included_file_are_an_error(tmp_path):
    (tmp_path / "hosts.inc").write_text("mail A 198.51.100.99\n")
    text = HEAD + "$INCLUDE hosts.inc\nmail A 198.51.100.20\n"
    path = zone_file(tmp_path, text)
    with pytest.raises(ProviderError, match=r"holds mail\.example\.test\. A records outside its own lines \(\$INCLUDE on line 8\)"):
        converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_text() == text


@needs_checkzone
def test_our_records_made_by_generate_are_an_error_and_generate_is_left_alone(tmp_path):
    text = HEAD + "$GENERATE 1-3 host$ A 198.51.100.$\n"
    path = zone_file(tmp_path, text)
    with pytest.raises(ProviderError, match=r"host2\.example\.test\. A records outside its own lines \(\$GENERATE on line 8\)"):
        converge(path, [rrset("host2.example.test.", "A", 300, "198.51.100.2")])
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_text() == HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE) + text[len(HEAD):] + "mail.example.test. 300 IN A 198.51.100.20\n"


@needs_checkzone
def test_an_include_that_cannot_be_followed_is_an_error(tmp_path):
    text = HEAD + "$INCLUDE missing.inc\n"
    path = zone_file(tmp_path, text)
    with pytest.raises(ProviderError, match=r"does not load \(named-checkzone: .*missing\.inc.*file not found"):
        converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_text() == text


@needs_checkzone
def test_relative_includes_resolve_against_include_directory(tmp_path):
    named_directory = tmp_path / "named"
    named_directory.mkdir()
    (named_directory / "hosts.inc").write_text("ns2 A 192.0.2.54\n")
    zones = tmp_path / "zones"
    zones.mkdir()
    text = HEAD + "$INCLUDE hosts.inc\n"
    path = zone_file(zones, text)
    wanted = [rrset("mail.example.test.", "A", 300, "198.51.100.20")]
    with pytest.raises(ProviderError, match="file not found"):
        converge(path, wanted)  # default: the zone file's directory
    converge(path, wanted, include_directory=str(named_directory))
    assert path.read_text() == HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE) + "$INCLUDE hosts.inc\nmail.example.test. 300 IN A 198.51.100.20\n"
    with pytest.raises(ProviderError, match="the include directory .*nowhere of the zone file .* is not a directory"):
        converge(path, wanted, include_directory=str(tmp_path / "nowhere"))


@needs_checkzone
@pytest.mark.parametrize("wanted, message", [
    ([rrset("example.test.", "MX", 300, "10 alias.example.test.")], r"named-checkzone refuses the new zone file .*'alias\.example\.test' is a CNAME"),
    ([rrset("example.test.", "MX", 300, "10 nowhere.example.test.")],
     r"the MX target nowhere\.example\.test of example\.test\. has no A or AAAA record in the zone"),
    ([rrset("_bad.example.test.", "A", 300, "198.51.100.7")], r"named-checkzone refuses .*_bad\.example\.test: bad owner name \(check-names\)"),
], ids=["mx-cname", "mx-no-address", "check-names"])
def test_named_checkzone_refusals_leave_the_file_untouched(tmp_path, wanted, message):
    text = HEAD + "alias CNAME ns\n"
    path = zone_file(tmp_path, text)
    with pytest.raises(ProviderError, match=message):
        converge(path, wanted)
    with pytest.raises(ProviderError, match=message):
        converge(path, wanted, check_mode=True)
    assert path.read_text() == text
    assert sorted(os.listdir(tmp_path)) == ["example.test.zone"]


@needs_checkzone
def test_other_records_named_checkzone_only_warns_about_do_not_block_a_change(tmp_path):
    text = HEAD + "other MX 10 nowhere\n_dmarc TXT \"v=DMARC1; p=reject\"\n"
    path = zone_file(tmp_path, text)
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_text() == HEAD.replace(SERIAL_LINE, NEW_SERIAL_LINE) + text[len(HEAD):] + "mail.example.test. 300 IN A 198.51.100.20\n"


@needs_checkzone
def test_the_self_check_refuses_an_edit_that_touches_other_records(tmp_path, monkeypatch):
    text = HEAD + "www A 198.51.100.22\n"
    path = zone_file(tmp_path, text)
    real_render = ZoneFileProvider.render

    def sloppy_render(self, zone, old_text, changes):
        return real_render(self, zone, old_text, changes).replace("198.51.100.22", "198.51.100.23").replace(" 600 86400", " 601 86400")

    monkeypatch.setattr(ZoneFileProvider, "render", sloppy_render)
    with pytest.raises(ProviderError) as caught:
        converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    message = str(caught.value)
    assert "records it does not manage would change: - www.example.test. 300 A 198.51.100.22, + www.example.test. 300 A 198.51.100.23" in message
    assert "the SOA would be 300 ns.example.test. hostmaster.example.test. 2026113000 3600 601 86400 300" in message
    assert message.endswith("; nothing was written")
    assert path.read_text() == text


@needs_checkzone
def test_a_soa_outside_the_file_is_an_error(tmp_path):
    (tmp_path / "soa.inc").write_text("@ IN SOA ns hostmaster 1 3600 600 86400 300\n")
    text = "$ORIGIN example.test.\n$TTL 300\n$INCLUDE soa.inc\n@ NS ns\nns A 192.0.2.53\n"
    path = zone_file(tmp_path, text)
    with pytest.raises(ProviderError, match=r"has no SOA record of example\.test\. in its own lines \(\$INCLUDE on line 3\)"):
        converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_text() == text


@needs_checkzone
def test_a_file_changed_between_read_and_write_is_not_overwritten(tmp_path, monkeypatch):
    path = zone_file(tmp_path, HEAD)
    real_validate = ZoneFileProvider.validate

    def validate_while_someone_edits(self, zone, file_path, text):
        real_validate(self, zone, file_path, text)
        path.write_text(HEAD + "; saved by an editor meanwhile\n")

    monkeypatch.setattr(ZoneFileProvider, "validate", validate_while_someone_edits)
    with pytest.raises(ProviderError, match="someone changed the zone file .* since it was read; nothing was changed, run again"):
        converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert path.read_text() == HEAD + "; saved by an editor meanwhile\n"


@pytest.mark.parametrize("options, message", [
    ({"path": "/srv/zones/example.test.zone\n"}, r"path: '/srv/zones/example\.test\.zone\\n' contains a control character"),
    ({"checkzone_command": "named-checkzone\x00"}, r"checkzone_command: 'named-checkzone\\x00' contains a control character"),
    ({"include_directory": "/etc/bind\r"}, r"include_directory: '/etc/bind\\r' contains a control character"),
    ({"checkzone_command": "/nonexistent/named-checkzone"},
     r"checkzone_command /nonexistent/named-checkzone: not found or not executable; install bind9-utils \(Debian, Ubuntu\) or bind-utils \(RHEL, Fedora\)"),
], ids=["path", "checkzone_command", "include_directory", "missing"])
def test_bad_options_are_refused_before_anything_runs(monkeypatch, options, message):
    def no_run(*args, **kwargs):
        raise AssertionError("a command ran")

    monkeypatch.setattr(_zonefile.subprocess, "run", no_run)
    path = options.pop("path", "/srv/zones/example.test.zone")
    with pytest.raises(RecordSetError, match=message):
        ZoneFileProvider({ZONE: {"path": path}}, **options)


@needs_checkzone
def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ProviderError, match=r"the zone file .*absent\.zone does not exist; create it first"):
        converge(tmp_path / "absent.zone", [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert not (tmp_path / "absent.zone").exists()


@needs_checkzone
def test_the_checker_is_run_from_the_given_command(tmp_path):
    wrapper = tmp_path / "checker"
    log = tmp_path / "calls"
    wrapper.write_text('#!/bin/sh\necho "$@" >> %s\nexec named-checkzone "$@"\n' % log)
    wrapper.chmod(0o755)
    path = zone_file(tmp_path, HEAD)
    converge(path, [rrset("mail.example.test.", "A", 300, "198.51.100.20")], checkzone_command=str(wrapper))
    calls = log.read_text().splitlines()
    assert [call.split(" -D ")[0] for call in calls] == ["-i local", "-i local -k fail -M fail"]
    assert subprocess.run(["named-checkzone", "-q", "example.test", str(path)], check=False).returncode == 0


@needs_checkzone
def test_a_symbolic_link_is_followed_and_stays_a_link(tmp_path):
    target = zone_file(tmp_path, HEAD, name="real.zone")
    link = tmp_path / "example.test.zone"
    link.symlink_to(target)
    converge(link, [rrset("mail.example.test.", "A", 300, "198.51.100.20")])
    assert link.is_symlink() and target.read_text().endswith("mail.example.test. 300 IN A 198.51.100.20\n")
