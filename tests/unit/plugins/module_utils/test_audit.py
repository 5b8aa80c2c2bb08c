"""The nolisting audit's join, verdicts, ranking and outputs (_audit.py), over plain values."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _audit
from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import merge_allowlist

T = 1_780_000_000.0  # an epoch second; every time below is relative to it


def side(host, *sources):
    return {"host": host, "sources": [dict(zip(("source", "first_seen", "last_seen", "count", "days"), item)) for item in sources]}


def verdicts(report):
    return {item["source"]: item["verdict"] for item in report}


def test_a_source_that_reached_a_live_mx_after_its_refusal_retried():
    report = _audit.join([side("dead", ("198.51.100.30", T, T + 60, 4, 1))],
                         [side("mx1", ("198.51.100.30", T + 0.1, T + 60.2, 4, None))])
    assert verdicts(report) == {"198.51.100.30": "retried"}
    assert report[0]["retry_delay"] == 0.1 and report[0]["arrivals"] == 4 and report[0]["refused"] == 4


def test_a_source_that_never_arrived_gave_up():
    report = _audit.join([side("dead", ("198.51.100.41", T, T + 5, 2, 1))], [side("mx1")])
    assert report[0]["verdict"] == "gave_up" and report[0]["retry_delay"] is None and report[0]["arrivals"] == 0


@pytest.mark.parametrize("first, last, verdict", [
    (T - 100, T - 10, "gave_up"),          # arrived only before it was ever refused
    (T + 60 + 3601, T + 60 + 4000, "gave_up"),  # came back long after the window
    (T - 100, T + 30, "retried"),          # the last arrival follows the refusals
    (T + 60 + 3599, T + 60 + 3599, "retried"),  # just inside the window after the last refusal
    (T - 4.5, T - 4.5, "retried"),         # a little before the first refusal: two hosts' clocks, listing time
    (T - 5.5, T - 5.5, "gave_up"),         # more than the slack before
    (T - 2 * 86400, T + 4 * 86400, "gave_up"),  # a partner's MTA delivering on other days while its crude client is refused
])
def test_the_window_and_the_clock_slack(first, last, verdict):
    report = _audit.join([side("dead", ("198.51.100.30", T, T + 60, 3, 1))], [side("mx2", ("198.51.100.30", first, last, 1, None))], window=3600)
    assert report[0]["verdict"] == verdict


def test_the_slack_is_an_option():
    arrivals = [side("mx2", ("198.51.100.30", T - 8, T - 8, 1, None))]
    assert _audit.join([side("dead", ("198.51.100.30", T, T, 1, 1))], arrivals)[0]["verdict"] == "gave_up"
    assert _audit.join([side("dead", ("198.51.100.30", T, T, 1, 1))], arrivals, slack=10)[0]["verdict"] == "retried"


def test_an_ipv6_network_joins_arrivals_of_addresses_inside_it_and_the_other_way_round():
    report = _audit.join([side("dead", ("2001:db8:7:1::/64", T, T, 2, 1), ("2001:db8:7:2::5", T, T, 1, 1))],
                         [side("mx1", ("2001:db8:7:1::99", T + 1, T + 1, 1, None), ("2001:db8:7:2::/64", T + 2, T + 2, 1, None))])
    assert verdicts(report) == {"2001:db8:7:1::/64": "retried", "2001:db8:7:2::5": "retried"}


def test_families_never_join():
    report = _audit.join([side("dead", ("198.51.100.7", T, T, 1, 1))], [side("mx1", ("::ffff:198.51.100.7", T, T, 1, None))])
    assert report[0]["verdict"] == "gave_up"


def test_two_dead_primaries_and_two_live_hosts_merge_per_source():
    report = _audit.join(
        [side("dead1", ("198.51.100.9", T, T + 10, 2, 1)), side("dead2", ("198.51.100.9", T - 5, T + 90000, 3, 2))],
        [side("mx1"), side("mx2", ("198.51.100.9", T + 90000.5, T + 90000.5, 1, None))])
    item = report[0]
    assert item["refused"] == 5 and item["days"] == 2 and item["dead_primaries"] == ["dead1", "dead2"]
    assert item["first_seen"] == _audit.timestamp(T - 5) and item["verdict"] == "retried" and item["retry_delay"] == 0.5


def test_unknown_first_seen_and_count_are_kept_unknown():
    report = _audit.join([side("dead", ("198.51.100.9", None, T, None, None))], [])
    assert report[0]["first_seen"] == report[0]["last_seen"] and report[0]["refused"] is None and report[0]["days"] is None
    assert "refused ? times" in _audit.describe(report[0])


@pytest.mark.parametrize("refused, message", [
    ([{"host": "dead", "sources": [{"source": "198.51.100.300", "last_seen": T}]}], "is not an address or a network"),
    ([{"host": "dead", "sources": [{"source": "198.51.100.1/24", "last_seen": T}]}], "is not an address or a network"),
    ([{"host": "dead", "sources": [{"source": "fe80::1%eth0", "last_seen": T}]}], "is not an address or a network"),
    ([{"host": "dead", "sources": [{"source": "198.51.100.1", "last_seen": "yesterday"}]}], "last_seen of source 198.51.100.1 must be a finite number"),
    ([{"host": "dead", "sources": [{"source": "198.51.100.1", "last_seen": float("inf")}]}], "must be a finite number"),
    ([{"host": "dead", "sources": [{"source": "198.51.100.1"}]}], "last_seen"),
    ([{"host": "dead\n", "sources": []}], "control character"),
    (["not a dict"], "each item must be a dict"),
])
def test_hostile_or_broken_input_is_refused_naming_it(refused, message):
    with pytest.raises(ValueError, match=message):
        _audit.join(refused, [])


def test_a_negative_window_is_refused():
    with pytest.raises(_audit.AuditError, match="window"):
        _audit.join([], [], window=-1)


def resolver(names):
    def resolve(addresses):
        return {address: names.get(address, ("none", None)) for address in addresses}
    return resolve


def crowd():
    """A printer that comes every day with a confirmed name, a bot that came once, a bot that came often, and an MTA."""
    return _audit.join([side("dead",
                             ("198.51.100.50", T - 5 * 86400, T, 5, 5),    # printer
                             ("198.51.100.61", T, T, 1, 1),                # one-off bot
                             ("198.51.100.62", T - 86400, T - 3600, 40, 2),  # noisy bot
                             ("198.51.100.30", T, T, 8, 1),                # real MTA
                             ("2001:db8:66::/64", T, T, 3, 1))],           # grouped IPv6 source
                       [side("mx1", ("198.51.100.30", T + 0.2, T + 0.2, 8, None))])


def test_candidates_are_ranked_confirmed_name_then_days_then_refusals():
    report = _audit.add_reverse_dns(crowd(), resolver({"198.51.100.50": ("confirmed", "printer.example.test"),
                                                      "198.51.100.62": ("unconfirmed", "dyn-62.example.net")}), limit=10)
    ranked = [item["source"] for item in sorted((i for i in report if i["verdict"] == "gave_up"), key=_audit.candidate_rank)]
    assert ranked == ["198.51.100.50", "198.51.100.62", "2001:db8:66::/64", "198.51.100.61"]
    by_source = {item["source"]: item for item in report}
    assert by_source["198.51.100.50"]["ptr"] == "printer.example.test"
    assert by_source["198.51.100.62"]["ptr"] is None and by_source["198.51.100.62"]["ptr_unconfirmed"] == "dyn-62.example.net"
    assert by_source["2001:db8:66::/64"]["ptr_status"] == "network"


def test_reverse_dns_goes_to_the_likely_candidates_first_within_the_limit():
    report = crowd()
    asked = []

    def resolve(addresses):
        asked.extend(addresses)
        return {}
    _audit.add_reverse_dns(report, resolve, limit=2)
    assert asked == ["198.51.100.50", "198.51.100.62"]
    assert {item["source"]: item["ptr_status"] for item in report}["198.51.100.30"] == "not_looked_up"


def test_the_summary_and_the_lines():
    report = _audit.add_reverse_dns(crowd(), resolver({"198.51.100.30": ("confirmed", "postfix.example.test")}), limit=10)
    summary = _audit.summarize(report, 604800)
    assert summary == {"refused_sources": 5, "retried": 1, "gave_up": 4, "candidates": 4, "confirmed_ptr_gave_up": 0, "period_seconds": 604800}
    lines = _audit.report_lines(report, summary)
    assert lines[0] == "of 5 source(s) refused at the dead primary in the last 7 days, 1 retried a live MX, 4 gave up"
    assert "198.51.100.30 (postfix.example.test): refused 8 times, retried a live MX 200 ms later (real MTA)" in lines
    assert "198.51.100.61: refused 1 time, never retried -> allowlist candidate" in lines
    assert "198.51.100.50: refused 5 times on 5 days, never retried -> allowlist candidate" in lines
    assert len(_audit.report_lines(report, summary, limit=1)) == 1 + 1 + 1 + 1  # one of each, and "... 3 more gave_up"


def test_the_candidates_file_is_a_valid_allow_file_of_exactly_the_sources_that_gave_up(tmp_path):
    report = _audit.add_reverse_dns(crowd(), resolver({"198.51.100.50": ("confirmed", "printer.example.test")}), limit=10)
    text = _audit.candidates_text(report, "2026-11-30T00:00:00.000Z")
    path = tmp_path / "candidates.txt"
    path.write_text(text, encoding="utf-8")
    entries = [line.split("#")[0].strip() for line in text.splitlines() if line.split("#")[0].strip()]
    assert entries == ["198.51.100.50", "198.51.100.62", "2001:db8:66::/64", "198.51.100.61"]
    assert "198.51.100.50  # refused 5 times, on 5 days, first " in text and "PTR printer.example.test (forward-confirmed)" in text
    ipv4, ipv6 = merge_allowlist([], [str(path)])  # the real allow-file reader takes every line
    assert ipv4 == ["198.51.100.50/32", "198.51.100.61/32", "198.51.100.62/32"] and ipv6 == ["2001:db8:66::/64"]


def test_the_json_report_holds_what_the_issue_names_and_no_private_fields():
    report = crowd()
    document = _audit.public_report(report, _audit.summarize(report, 86400), "2026-11-30T00:00:00.000Z", 3600)
    parsed = json.loads(_audit.report_json(document))
    assert set(parsed) == {"generated", "window_seconds", "advisory", "summary", "sources"}
    for item in parsed["sources"]:
        assert {"source", "verdict", "refused", "first_seen", "last_seen", "days", "ptr"} <= set(item)
        assert not any(key.startswith("_") for key in item)


def test_metrics_have_no_address_labels():
    report = crowd()
    text = _audit.metrics_text(_audit.summarize(report, 86400), T)
    assert 'mailsec_mx_audit_sources{verdict="gave_up"} 4' in text and 'mailsec_mx_audit_sources{verdict="retried"} 1' in text
    assert "198.51.100" not in text and "2001:db8" not in text
    assert "mailsec_mx_audit_last_run_timestamp_seconds %d" % T in text


def test_a_dual_stack_mta_that_came_back_over_one_family_retried_on_both_by_its_confirmed_name():
    report = _audit.join([side("dead", ("198.51.100.40", T, T, 3, 1), ("2001:db8:de::40", T, T, 3, 1), ("198.51.100.41", T, T, 1, 1))],
                         [side("mx1", ("2001:db8:de::40", T + 0.1, T + 0.1, 3, None))])
    names = {"198.51.100.40": ("confirmed", "sender.lab.test"), "2001:db8:de::40": ("confirmed", "sender.lab.test"),
             "198.51.100.41": ("unconfirmed", "sender.lab.test")}  # a PTR anyone could publish links nothing
    _audit.link_by_name(_audit.add_reverse_dns(report, resolver(names), limit=10))
    assert verdicts(report) == {"198.51.100.40": "retried", "2001:db8:de::40": "retried", "198.51.100.41": "gave_up"}
    assert report[0]["retried_as"] == ["2001:db8:de::40"]
    assert _audit.describe(report[0]) == ("198.51.100.40 (sender.lab.test): refused 3 times, retried a live MX as 2001:db8:de::40 "
                                          "(same forward-confirmed name: real MTA)")


def test_the_compact_table_carries_the_same_sources_as_the_list():
    refused = side("dead", ("198.51.100.30", T + 0.5, T + 60.25, 4, 2), ("2001:db8:7:1::/64", None, T, None, None))
    table = _audit.render_table(refused["sources"])
    assert table.splitlines()[0] == _audit.TABLE_HEADER
    assert _audit.merge_side([{"host": "dead", "table": table}], "refused") == _audit.merge_side([refused], "refused")


@pytest.mark.parametrize("table, message", [
    ("source first\n", "must start with the line"),
    (_audit.TABLE_HEADER + "\n198.51.100.1 - 5\n", "must have 5 fields"),
    (_audit.TABLE_HEADER + "\n198.51.100.1 - x 1 1\n", "not a number"),
    (_audit.TABLE_HEADER + "\n198.51.100.1 - inf 1 1\n", "not a number"),
    (_audit.TABLE_HEADER + "\n198.51.100.1 nan 5 1 1\n", "not a number"),
    (_audit.TABLE_HEADER + "\n198.51.100.1\t - 5 1 1\n", "is not an address or a network"),
    (_audit.TABLE_HEADER + "\n198.51.100.1%lo - 5 1 1\n", "is not an address or a network"),
    (["not", "a", "string"], "table must be a string"),
])
def test_a_broken_table_is_refused_naming_the_line(table, message):
    with pytest.raises(_audit.AuditError, match=message):
        _audit.merge_side([{"host": "dead", "table": table}], "refused")


def test_sources_and_table_together_are_refused():
    with pytest.raises(_audit.AuditError, match="'sources' list or a 'table'"):
        _audit.merge_side([{"host": "dead", "sources": [], "table": _audit.TABLE_HEADER}], "refused")


def test_equal_sources_written_differently_meet():
    report = _audit.join([side("dead", ("2001:DB8:0:0::5", T, T, 1, 1))], [side("mx1", ("2001:db8::5", T, T, 1, None))])
    assert [(item["source"], item["verdict"]) for item in report] == [("2001:db8::5", "retried")]


@pytest.mark.parametrize("epoch", [0.0, T, T + 0.0004, T + 0.9996, T + 86399.9999, 951782400.5])
def test_timestamps_agree_with_datetime(epoch):
    import datetime  # pylint: disable=import-outside-toplevel
    expected = datetime.datetime.fromtimestamp(round(epoch * 1000) / 1000, datetime.timezone.utc)
    assert _audit.timestamp(epoch) == expected.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (expected.microsecond // 1000)


@pytest.mark.parametrize("seconds, text", [(0.034, "34 ms"), (0.0, "under 1 ms"), (0.0004, "under 1 ms"), (2.5, "2.5 s"), (75.4, "75 s")])
def test_delays_show_milliseconds_when_they_are_short(seconds, text):
    assert _audit.seconds_text(seconds) == text
