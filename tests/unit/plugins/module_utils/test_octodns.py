"""The octoDNS YAML config provider: text-level edits that keep every other byte, octoDNS's key order, what it refuses.

Whole expected files are spelled out, so a test fails on any byte that moves. octoDNS itself loads what this
writes in tests/integration/plugins/modules/test_octodns_record_set.py."""

import os

import pytest
from natsort import natsort_keygen

from ansible_collections.mailsec.mx.plugins.module_utils import _octodns
from ansible_collections.mailsec.mx.plugins.module_utils._octodns import (
    Document, OctodnsProvider, natural_key, octodns_name, record_problems, yaml_scalar)
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    ProviderError, RecordSet, RecordSetError, converge_zone, parse_record_sets)

ZONE = "example.test."

CONFIG = """\
---
# example.test for octoDNS

'':
  - ttl: 300
    type: NS
    values:
      - ns1.example.test.
      - ns2.example.test.
  # the SPF record
  - type: TXT
    value: v=spf1 mx -all

mail:  # the live MX
  type: A
  value: 203.0.113.20
www:
  type: CNAME
  value: mail.example.test.
"""

MX = {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 nolist.example.test", "20 mail.example.test"]}
NOLIST_A = {"name": "nolist.example.test", "type": "A", "ttl": 300, "values": ["203.0.113.10"]}
NOLIST_AAAA = {"name": "nolist.example.test", "type": "AAAA", "ttl": 300, "values": ["2001:db8::10"]}
MAIL_AAAA = {"name": "mail.example.test", "type": "AAAA", "ttl": 300, "values": ["2001:db8::20"]}
MAIL_A = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["203.0.113.20"]}


def config_file(tmp_path, text=CONFIG):
    path = tmp_path / "example.test.yaml"
    path.write_bytes(text.encode())
    return path


def converge(path, record_sets, state="present", check_mode=False, zone=ZONE):
    zone, wanted = parse_record_sets(record_sets, zone, need_values=state == "present")
    return converge_zone(OctodnsProvider({zone: {"path": str(path)}}), zone, wanted, state, check_mode)


def publish(tmp_path, text, record_sets, state="present"):
    """The file's text after converging ``record_sets`` into ``text``."""
    path = config_file(tmp_path, text)
    converge(path, record_sets, state)
    return path.read_bytes().decode()


def refused(tmp_path, text, record_sets, message, state="present"):
    """Converging fails with ``message`` (a regex) and the file keeps every byte; no stray file is left."""
    path = config_file(tmp_path, text)
    with pytest.raises(ProviderError, match=message):
        converge(path, record_sets, state)
    assert path.read_bytes() == text.encode()
    assert os.listdir(tmp_path) == ["example.test.yaml"]


# --- the order and the scalars octoDNS reads ------------------------------------------------------------------

NAMES = ["", "*", "_dmarc", "a", "A", "a-1", "a.b", "a10", "a2", "mail", "mail10", "mail2", "mail2a", "10", "9", "1a",
         "x1.y2", "x1.y10", "0x1", "nolist", "nolist1", "*.wild", "_25._tcp.mail"]


def test_natural_key_orders_like_octodns_natsort():
    assert sorted(NAMES, key=natural_key) == sorted(NAMES, key=natsort_keygen())
    assert natural_key(10) == natural_key("10") == ("", 10)
    assert natural_key("²") == ("²",)  # a digit to str.isdigit, not a number to natsort's [0-9]


@pytest.mark.parametrize("value, written", [
    ("mail", "mail"), ("", "''"), ("*", "'*'"), ("*.wild", "'*.wild'"), ("yes", "'yes'"), ("null", "'null'"),
    ("10", "'10'"), ("0x1f", "'0x1f'"), ("1:2:3:4:5:6:7:8", "'1:2:3:4:5:6:7:8'"), ("2001:db8::", "'2001:db8::'"),
    ("2001:db8::1", "2001:db8::1"), ("203.0.113.10", "203.0.113.10"), (".", "'.'"), ("it's", "'it''s'"),
    ("mx.example.test.", "mx.example.test."), (300, "300"),
])
def test_scalars_read_back_as_written(value, written):
    assert yaml_scalar(value) == written
    if isinstance(value, str):
        assert _octodns.yaml.safe_load("x: %s\n" % written) == {"x": value}


def test_names_as_octodns_reads_them():
    assert [octodns_name(key) for key in ("Mail", 10, "bücher", "")] == ["mail", "10", "xn--bcher-kva", ""]


# --- publishing: only our records change --------------------------------------------------------------------

def test_publish_then_remove_restores_every_byte(tmp_path):
    published = publish(tmp_path, CONFIG, [MX, NOLIST_A, NOLIST_AAAA, MAIL_AAAA])
    assert published == """\
---
# example.test for octoDNS

'':
  - ttl: 300
    type: MX
    values:
      - exchange: nolist.example.test.
        preference: 10
      - exchange: mail.example.test.
        preference: 20
  - ttl: 300
    type: NS
    values:
      - ns1.example.test.
      - ns2.example.test.
  # the SPF record
  - type: TXT
    value: v=spf1 mx -all

mail:  # the live MX
  - type: A
    value: 203.0.113.20
  - ttl: 300
    type: AAAA
    value: 2001:db8::20
nolist:
  - ttl: 300
    type: A
    value: 203.0.113.10
  - ttl: 300
    type: AAAA
    value: 2001:db8::10
www:
  type: CNAME
  value: mail.example.test.
"""
    assert publish(tmp_path, published, [MX, NOLIST_A, NOLIST_AAAA, MAIL_AAAA], state="absent") == CONFIG


def test_rerun_writes_nothing(tmp_path):
    path = config_file(tmp_path, publish(tmp_path, CONFIG, [MX, NOLIST_A]))
    before = os.stat(path)
    changes, diff = converge(path, [MX, NOLIST_A])
    assert changes == [] and diff["before"] == diff["after"] == ""
    assert os.stat(path).st_ino == before.st_ino  # not even replaced by the same bytes


def test_a_change_touches_only_its_own_lines(tmp_path):
    published = publish(tmp_path, CONFIG, [MX, NOLIST_A])
    changed = publish(tmp_path, published, [dict(MX, values=["10 nolist.example.test", "30 backstop.example.test"])])
    assert changed == published.replace("      - exchange: mail.example.test.\n        preference: 20\n",
                                        "      - exchange: backstop.example.test.\n        preference: 30\n")


def test_check_mode_shows_the_file_diff_and_writes_nothing(tmp_path):
    path = config_file(tmp_path)
    changes, diff = converge(path, [MX], check_mode=True)
    assert [change.key for change in changes] == [(ZONE, "MX")]
    assert diff["before"] == CONFIG and diff["before_header"] == diff["after_header"] == str(path)
    assert "      - exchange: nolist.example.test.\n" in diff["after"]
    assert path.read_text() == CONFIG


def test_our_records_are_read_as_octodns_reads_them(tmp_path):
    """No ttl is octoDNS's default 3600; values in any order; MX in the legacy {priority, value} form."""
    text = ("---\n'':\n  type: MX\n  values:\n    - priority: 20\n      value: mail.example.test.\n"
            "    - exchange: nolist.example.test.\n      preference: '10'\n"
            "mail:\n  values: [203.0.113.21, 203.0.113.20]\n  type: A\n")
    path = config_file(tmp_path, text)
    same = [dict(MX, ttl=3600), dict(MAIL_A, ttl=3600, values=["203.0.113.20", "203.0.113.21"])]
    assert converge(path, same)[0] == []
    changes, _diff = converge(path, [dict(MAIL_A, values=["203.0.113.20", "203.0.113.21"])])
    assert [(change.before.ttl, change.after.ttl) for change in changes] == [(3600, 300)]
    assert path.read_text().endswith("mail:\n  ttl: 300\n  type: A\n  values:\n    - 203.0.113.20\n    - 203.0.113.21\n")


def test_a_record_of_ours_left_as_it_was_is_not_validated_again(tmp_path):
    """mail AAAA without ttl is read as 3600 and left alone; only what we write must have one."""
    text = "mail:\n  type: AAAA\n  value: 2001:db8::20\n"
    assert publish(tmp_path, text, [dict(MAIL_AAAA, ttl=3600), MAIL_A]) == (
        "mail:\n  - ttl: 300\n    type: A\n    value: 203.0.113.20\n  - type: AAAA\n    value: 2001:db8::20\n")


def test_a_relative_exchange_is_rewritten_absolute(tmp_path):
    text = "'':\n  ttl: 300\n  type: MX\n  value:\n    exchange: mail\n    preference: 10\n"
    assert publish(tmp_path, text, [dict(MX, values=["10 mail.example.test"])]) == (
        "'':\n  ttl: 300\n  type: MX\n  value:\n    exchange: mail.example.test.\n    preference: 10\n")


# --- shapes: a record or a list ------------------------------------------------------------------------------

def test_one_record_becomes_a_list_and_back(tmp_path):
    text = "---\nmail:  # keep me\n  # about the TXT\n  ttl: 60\n  type: TXT\n  values:\n    - one\n    - |\n      two\n      lines\n"
    published = publish(tmp_path, text, [MAIL_A])
    assert published == ("---\nmail:  # keep me\n"
                         "  - ttl: 300\n    type: A\n    value: 203.0.113.20\n  # about the TXT\n"
                         "  - ttl: 60\n    type: TXT\n    values:\n      - one\n      - |\n        two\n        lines\n")
    assert publish(tmp_path, published, [MAIL_A], state="absent") == text


def test_a_list_down_to_one_record_becomes_a_mapping(tmp_path):
    text = "mail:\n- type: A\n  value: 203.0.113.20\n- {type: TXT, value: hi}  # kept\n"
    assert publish(tmp_path, text, [MAIL_A], state="absent") == "mail:\n  {type: TXT, value: hi}  # kept\n"


def test_a_flow_record_on_the_key_line_moves_into_the_list(tmp_path):
    text = "mail: {type: TXT, value: hi}  # kept\nwww: {type: A, value: 203.0.113.80}\n"
    assert publish(tmp_path, text, [MAIL_A]) == (
        "mail:\n  - ttl: 300\n    type: A\n    value: 203.0.113.20\n  - {type: TXT, value: hi}  # kept\n"
        "www: {type: A, value: 203.0.113.80}\n")


def test_our_only_record_is_replaced_and_removed_with_its_name(tmp_path):
    text = "a:\n  type: A\n  value: 203.0.113.1\nmail: {type: A, value: 203.0.113.9}\nz:\n  type: A\n  value: 203.0.113.2\n"
    replaced = publish(tmp_path, text, [MAIL_A])
    assert replaced == "a:\n  type: A\n  value: 203.0.113.1\nmail:\n  ttl: 300\n  type: A\n  value: 203.0.113.20\nz:\n  type: A\n  value: 203.0.113.2\n"
    assert publish(tmp_path, replaced, [MAIL_A], state="absent") == "a:\n  type: A\n  value: 203.0.113.1\nz:\n  type: A\n  value: 203.0.113.2\n"


def test_the_file_style_is_followed(tmp_path):
    """octoDNS's own dump style (lists not indented) and a file indented by four."""
    dumped = "---\n'':\n- ttl: 3600\n  type: NS\n  values:\n  - ns1.example.test.\n"
    assert publish(tmp_path, dumped, [MX]) == (
        "---\n'':\n- ttl: 300\n  type: MX\n  values:\n  - exchange: nolist.example.test.\n    preference: 10\n"
        "  - exchange: mail.example.test.\n    preference: 20\n- ttl: 3600\n  type: NS\n  values:\n  - ns1.example.test.\n")
    four = "www:\n    type: A\n    values:\n        - 203.0.113.80\n"
    assert publish(tmp_path, four, [dict(MX, values=["10 mail.example.test"]), NOLIST_AAAA]) == (
        "'':\n    ttl: 300\n    type: MX\n    value:\n        exchange: mail.example.test.\n        preference: 10\n"
        "nolist:\n    ttl: 300\n    type: AAAA\n    value: 2001:db8::10\n" + four)


def test_crlf_files_stay_crlf(tmp_path):
    text = "---\r\n'':\r\n  type: NS\r\n  value: ns1.example.test.\r\nwww:\r\n  type: A\r\n  value: 203.0.113.80\r\n"
    published = publish(tmp_path, text, [dict(MX, values=["10 mail.example.test"])])
    assert published == ("---\r\n'':\r\n  - ttl: 300\r\n    type: MX\r\n    value:\r\n      exchange: mail.example.test.\r\n"
                         "      preference: 10\r\n  - type: NS\r\n    value: ns1.example.test.\r\n"
                         "www:\r\n  type: A\r\n  value: 203.0.113.80\r\n")
    assert publish(tmp_path, published, [MX], state="absent") == text


# --- new names go where octoDNS's order puts them ----------------------------------------------------------

def test_new_names_in_natural_order(tmp_path):
    text = "# the apex comes first\nmail2:\n  type: A\n  value: 203.0.113.2\n\n# ten\nmail10:\n  type: A\n  value: 203.0.113.10\n"
    sets = [dict(NOLIST_A, name=name + ".example.test") for name in ("mail3", "mail11", "*", "mail")] + [dict(MX, values=["10 mail.example.test"])]
    assert publish(tmp_path, text, sets) == (
        "'':\n  ttl: 300\n  type: MX\n  value:\n    exchange: mail.example.test.\n    preference: 10\n"
        "'*':\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"
        "mail:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"
        "# the apex comes first\nmail2:\n  type: A\n  value: 203.0.113.2\n"
        "mail3:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"
        "\n# ten\nmail10:\n  type: A\n  value: 203.0.113.10\n"
        "mail11:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n")


@pytest.mark.parametrize("text, published", [
    ("", "nolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"),
    ("--- {}\n", "---\nnolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"),
    ("---\n# nothing yet\n", "---\n# nothing yet\nnolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"),
    ("a:\n  type: A\n  value: 203.0.113.1", "a:\n  type: A\n  value: 203.0.113.1\nnolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"),
], ids=["empty", "octodns-empty-zone", "comments-only", "no-final-newline"])
def test_a_config_without_names_or_final_newline(tmp_path, text, published):
    assert publish(tmp_path, text, [NOLIST_A]) == published


def test_an_unsorted_config_is_edited_all_the_same(tmp_path):
    """A config for enforce_order: false: the new name goes before the first name that sorts after it."""
    text = "z:\n  type: A\n  value: 203.0.113.1\na:\n  type: A\n  value: 203.0.113.2\n"
    assert publish(tmp_path, text, [NOLIST_A]) == "nolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n" + text


def test_other_data_is_kept_as_written(tmp_path):
    """Metadata, tags (octoDNS's !include), anchors and merges that are not ours: kept byte for byte."""
    rest = "defaults: &defaults\n  type: TXT\n  value: shared\nincluded: !include other.yaml\ntxt:\n  <<: *defaults\n  ttl: 60\n"
    text = "'':\n  octodns:\n    healthcheck: {protocol: TCP}\n  type: NS\n  value: ns1.example.test.\n" + rest
    published = publish(tmp_path, text, [dict(MX, values=["10 mail.example.test"])])
    assert published == ("'':\n  - ttl: 300\n    type: MX\n    value:\n      exchange: mail.example.test.\n      preference: 10\n"
                         "  - octodns:\n      healthcheck: {protocol: TCP}\n    type: NS\n    value: ns1.example.test.\n" + rest)
    assert publish(tmp_path, published, [MX], state="absent") == text


def test_anchors_in_records_that_are_not_ours_are_fine(tmp_path):
    text = ("'':\n  type: NS\n  values: &ns\n    - ns1.example.test.\n    - ns2.example.test.\n"
            "sub:\n  type: NS\n  values: *ns\n")
    published = publish(tmp_path, text, [dict(MX, values=["10 mail.example.test"])])
    assert published == ("'':\n  - ttl: 300\n    type: MX\n    value:\n      exchange: mail.example.test.\n      preference: 10\n"
                         "  - type: NS\n    values: &ns\n      - ns1.example.test.\n      - ns2.example.test.\n"
                         "sub:\n  type: NS\n  values: *ns\n")
    assert publish(tmp_path, published, [MX], state="absent") == text
    refused(tmp_path, text.replace("type: NS\n  values: &ns", "type: MX\n  values: &ns"), [MX], r"line 1: example\.test\. uses YAML "
            r"anchors or aliases \(& or \*\) where this module writes")


def test_an_anchor_on_a_kept_record_moves_with_it(tmp_path):
    text = "nolist: &txt\n  type: TXT\n  value: x\nother: *txt\n"
    published = publish(tmp_path, text, [NOLIST_A])
    assert published == "nolist:\n  - ttl: 300\n    type: A\n    value: 203.0.113.10\n  - &txt\n    type: TXT\n    value: x\nother: *txt\n"
    assert publish(tmp_path, published, [NOLIST_A], state="absent") == "nolist:\n  &txt\n  type: TXT\n  value: x\nother: *txt\n"


# --- refused, nothing written ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, message", [
    ("'':\n  octodns:\n    ignored: true\n  type: MX\n  value: {exchange: mail.example.test., preference: 10}\n",
     r"line 2: example\.test\. MX carries octoDNS metadata \(octodns\); this module would drop it"),
    ("'':\n  dynamic: {pools: {}}\n  type: MX\n  value: {exchange: mail.example.test., preference: 10}\n",
     r"carries octoDNS metadata \(dynamic\)"),
    ("'':\n  comment: mine\n  type: MX\n  value: {exchange: mail.example.test., preference: 10}\n",
     r"example\.test\. MX has keys this module would drop \('comment'\)"),
    ("'':\n  type: MX\n  value: {exchange: a.example.test., preference: 10}\n  values: []\n", r"has both value and values"),
    ("'':\n- {type: MX, value: {exchange: a.example.test., preference: 1}}\n- {type: MX, value: {exchange: b.example.test., preference: 2}}\n",
     r"line 3: example\.test\. has two MX records"),
    ("'':\n  type: mx\n  value: {exchange: a.example.test., preference: 1}\n", r"has type 'mx'; octoDNS knows it as MX only"),
    ("'':\n  type: MX\n  ttl: soon\n  value: {exchange: a.example.test., preference: 1}\n", r"has ttl 'soon', not an integer"),
    ("'':\n  type: MX\n  value: [a.example.test.]\n", r"has a value this module cannot read: 'a\.example\.test\.'$"),
    ("'': &apex\n  type: MX\n  value: {exchange: a.example.test., preference: 1}\nwww: *apex\n", r"uses YAML anchors or aliases"),
    ("'': [{type: NS, value: ns.example.test.}]\n", r"is a list this module cannot edit item by item"),
    ("'': just text\n", r"example\.test\. is not a record or a list of records"),
    ("? ''\n: type: NS\n  value: ns.example.test.\n", r"line 1: example\.test\. is written as an explicit key \(\? \.\.\.\)"),
    ("'':\n  - type: NS\n    value: ns.example.test.\n  - value: x\n", r"line 4: a record of example\.test\. has no type"),
    ("www:\n  type: A\n  type: A\n  value: 203.0.113.1\n", r"line 3: the key 'type' appears twice in one mapping"),
    ("<<: {x: {type: A, value: 203.0.113.1}}\n", r"line 1: a merge key \(<<\) at the top level"),
    ("- a\n- b\n", r"must be a block mapping of names to records"),
    ("{'': {type: NS, value: ns.example.test.}}\n", r"must be a block mapping of names to records"),
    ("'':\n  type: NS\n value: x\n", r"is not valid YAML"),
    ("'': {type: NS}\n---\nb: 1\n", r"is not valid YAML: expected a single document"),
    ("'':\n  type: CNAME\n  value: mail.example.test.\n", r"example\.test\. has a CNAME; octoDNS refuses other records beside it"),
], ids=["octodns-metadata", "dynamic", "unknown-key", "value-and-values", "two-mx", "lower-case-type", "bad-ttl", "bad-mx-value",
        "anchor", "flow-list", "not-a-record", "explicit-key", "no-type", "duplicate-key", "top-level-merge", "a-list",
        "flow-mapping", "bad-indent", "two-documents", "cname-beside"])
def test_what_cannot_be_edited_safely_is_refused(tmp_path, text, message):
    refused(tmp_path, text, [MX], message)


def test_bytes_that_are_not_utf8_are_refused(tmp_path):
    path = tmp_path / "example.test.yaml"
    path.write_bytes(b"# caf\xe9\nwww:\n  type: A\n  value: 203.0.113.80\n")
    with pytest.raises(ProviderError, match=r"the octoDNS config .* is not valid YAML: unacceptable character #xdce9"):
        converge(path, [MAIL_A])
    assert path.read_bytes() == b"# caf\xe9\nwww:\n  type: A\n  value: 203.0.113.80\n"


def test_a_name_written_twice_is_refused_only_when_it_is_ours(tmp_path):
    others = "EXAMPLE:\n  type: A\n  value: 203.0.113.1\n'':\n  type: NS\n  value: ns.example.test.\nExample: {type: TXT, value: x}\n"
    assert publish(tmp_path, others, [NOLIST_A]) == others + "nolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n"
    text = "Mail:\n  type: TXT\n  value: x\nmail:\n  type: AAAA\n  value: 2001:db8::1\n"
    refused(tmp_path, text, [MAIL_A], r"line 4: 'mail' is written twice \(also line 1\); octoDNS reads both as 'mail'")


def test_metadata_is_refused_in_check_mode_and_for_absent_too(tmp_path):
    text = "mail:\n  octodns: {ignored: true}\n  type: A\n  value: 203.0.113.20\n"
    path = config_file(tmp_path, text)
    for state, check_mode in (("present", True), ("absent", False)):
        with pytest.raises(ProviderError, match="carries octoDNS metadata"):
            converge(path, [MAIL_A], state, check_mode)
    assert path.read_text() == text


def test_the_self_check_stops_a_bad_edit(tmp_path, monkeypatch):
    """If rendering ever touched a record that is not ours, the check before writing refuses (here: a line lost)."""
    real = _octodns._apply_edits

    def losing_a_line(text, edits, newline):
        return real(text, edits, newline).replace("      - ns2.example.test.\n", "")

    monkeypatch.setattr(_octodns, "_apply_edits", losing_a_line)
    refused(tmp_path, CONFIG, [MX], r"refusing to write the octoDNS config: records of other types at example\.test\. would change; "
                                    r"nothing was changed")


def test_the_self_check_stops_a_wrong_record(tmp_path, monkeypatch):
    monkeypatch.setattr(_octodns, "_sorted_values", lambda record_set: [(10, "other.example.test.")] if record_set.type == "MX" else record_set.values)
    refused(tmp_path, CONFIG, [MX], r"example\.test\. MX would read back as RecordSet\(.*other\.example\.test\.")


def test_the_self_check_stops_a_lost_name(tmp_path, monkeypatch):
    real = _octodns._apply_edits
    monkeypatch.setattr(_octodns, "_apply_edits", lambda text, edits, newline: real(text, edits, newline).replace("www:", "ww:"))
    refused(tmp_path, CONFIG, [MX], r"names that are not ours would change")


def test_the_key_order_is_checked(tmp_path, monkeypatch):
    monkeypatch.setattr(_octodns.Document, "insertion_point", lambda self, name: len(self.text))
    refused(tmp_path, CONFIG, [NOLIST_A], r"refusing to write the octoDNS config: the names would leave octoDNS's key order")


def test_validate_checks_the_key_order_of_a_sorted_config(tmp_path):
    provider = OctodnsProvider({ZONE: {"path": str(config_file(tmp_path))}})
    provider.read(ZONE, [("nolist.example.test.", "A")])
    with pytest.raises(ProviderError, match=r"the names would leave octoDNS's key order \(enforce_order\)"):
        provider.validate(ZONE, "x.yaml", CONFIG + "nolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\n")
    provider.validate(ZONE, "x.yaml", CONFIG.replace("www:", "nolist:\n  ttl: 300\n  type: A\n  value: 203.0.113.10\nwww:"))


@pytest.mark.parametrize("data, problem", [
    ({"ttl": 300, "type": "MX", "value": {"exchange": "mail", "preference": 10}}, "MX exchange 'mail' is not absolute"),
    ({"ttl": True, "type": "A", "value": "203.0.113.1"}, "ttl True is not an integer"),
    ({"ttl": 300, "type": "A"}, "no value"),
    ({"ttl": 300, "type": "A", "value": "2001:db8::1"}, "'2001:db8::1' is not an IPv4 address"),
    ({"type": "A", "ttl": 300, "value": "203.0.113.1"}, "keys out of octoDNS's order"),
    ({"ttl": 300, "type": "MX", "value": {"exchange": "a.", "preference": 70000}}, "MX preference 70000 is not an integer from 0 to 65535"),
    ({"ttl": 300, "type": "MX", "value": {"exchange": "a..b.", "preference": 1}}, "invalid label"),
])
def test_record_problems_are_what_octodns_refuses(data, problem):
    assert any(problem in found for found in record_problems(data, data["type"], ZONE))


def test_validate_runs_on_the_new_text(tmp_path, monkeypatch):
    """A record that reads back as wanted but that octoDNS would refuse (keys out of order) is not written."""
    monkeypatch.setattr(_octodns, "record_lines", lambda record_set, style: ["type: A", "ttl: 300", "value: 203.0.113.10"])
    refused(tmp_path, CONFIG, [NOLIST_A], r"line \d+: nolist\.example\.test\. A would not load in octoDNS: keys out of octoDNS's order$")


def test_hostile_values_never_reach_the_file(tmp_path):
    path = config_file(tmp_path)
    for bad in ({"values": ["10 mail.example.test\n  octodns: {}"]}, {"name": "x\n  octodns: {}.example.test"},
                {"values": ["10 mail.example.test #"]}):
        with pytest.raises(RecordSetError):
            converge(path, [dict(MX, **bad)])
    with pytest.raises(RecordSetError, match="path"):
        OctodnsProvider({ZONE: {"path": str(path) + "\n"}})
    assert path.read_text() == CONFIG


def test_two_zones_cannot_share_one_file(tmp_path):
    path = config_file(tmp_path)
    with pytest.raises(RecordSetError, match=r"zones example\.test\. and other\.test\. have the same path .*; octoDNS reads one file per zone"):
        OctodnsProvider({ZONE: {"path": str(path)}, "other.test.": {"path": str(tmp_path / "." / path.name)}})


def test_the_document_layout():
    document = Document(CONFIG, "x.yaml")
    assert [entry.name for entry in document.entries] == ["", "mail", "www"]
    assert [record.type for record in document.entries[0].records] == ["NS", "TXT"]
    assert (document.style.indent, document.style.seq, document.style.newline) == (2, 2, "\n")
    assert document.sorted
    assert CONFIG[document.entries[1].start:document.entries[1].end] == "mail:  # the live MX\n  type: A\n  value: 203.0.113.20\n"


def test_a_set_read_from_the_file_is_a_record_set(tmp_path):
    path = config_file(tmp_path)
    provider = OctodnsProvider({ZONE: {"path": str(path)}})
    assert provider.read(ZONE, [("mail.example.test.", "A"), ("mail.example.test.", "AAAA"), ("example.test.", "MX")]) == {
        ("mail.example.test.", "A"): RecordSet("mail.example.test.", "A", 3600, ["203.0.113.20"]),
        ("mail.example.test.", "AAAA"): None, ("example.test.", "MX"): None}


def test_comments_stay_with_the_records_they_describe(tmp_path):
    text = ("---\n'':\n  # the mail\n  - type: MX\n    values:\n      - exchange: mail.example.test.\n        preference: 10\n"
            "  # spf record, do not touch\n  - type: TXT\n    value: v=spf1 -all\n  # the name servers\n  - type: NS\n    value: ns.example.test.\n")
    # MX removed, two records left: a list still; the MX's comment goes with it, the others stay with theirs.
    assert publish(tmp_path, text, [MX], state="absent") == (
        "---\n'':\n  # spf record, do not touch\n  - type: TXT\n    value: v=spf1 -all\n  # the name servers\n  - type: NS\n    value: ns.example.test.\n")
    one_left = text.replace("  # the name servers\n  - type: NS\n    value: ns.example.test.\n", "")
    # MX removed, one record left: a mapping; the TXT's comment comes along.
    assert publish(tmp_path, one_left, [MX], state="absent") == (
        "---\n'':\n  # spf record, do not touch\n  type: TXT\n  value: v=spf1 -all\n")
