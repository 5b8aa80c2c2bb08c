"""Trap hits: nft durations both ways, and the list and summary an admin reads."""

import datetime

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._traps import (
    Entry,
    carry,
    fill_levels,
    fill_warnings,
    format_duration,
    hit_list,
    network_of,
    parse_duration,
    source_label,
    summary,
)

NOW = datetime.datetime(2026, 11, 24, 12, 0, 0, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("text, seconds", [
    ("59m59s984ms", 3599.984), ("6d23h59m59s980ms", 604799.98), ("1h", 3600), ("7d", 604800), ("3600", 3600), ("0s", 0),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1x", "h1", "1h 2m", "-1s", "1.5s"])
def test_parse_duration_refuses_what_nft_never_prints(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("seconds, text", [(3600, "1h"), (604800, "7d"), (90, "1m30s"), (3661, "1h1m1s"), (5, "5s"), (0, "0s"),
                                           (2147483, "24d20h31m23s")])
def test_format_duration_as_nft_prints_it(seconds, text):
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_entry_age_is_time_since_the_last_refresh():
    assert Entry(3600, 3590.5).age == pytest.approx(9.5)
    assert Entry(3600, 3700).age == 0.0


def test_hit_list_latest_first_with_first_and_last_hits():
    hits = {"198.51.100.66": Entry(3600, 3590), "2001:db8::66": Entry(3600, 3000)}
    seen = {"198.51.100.66": Entry(604800, 604200, packets=4), "2001:db8::66": Entry(604800, 604790, packets=1)}
    listed = hit_list(hits, seen, NOW)
    assert listed == [
        {"source": "198.51.100.66", "last_seen": "2026-11-24T11:59:50Z", "last_seen_ago": 10,
         "first_seen": "2026-11-24T11:50:00Z", "hits": 4, "expires_in": 3590},
        # seen keeps the first hit: here it is younger than the last refresh of hits, as after a reload.
        {"source": "2001:db8::66", "last_seen": "2026-11-24T11:50:00Z", "last_seen_ago": 600,
         "first_seen": "2026-11-24T11:59:50Z", "hits": 1, "expires_in": 3000},
    ]


def test_hit_list_without_a_seen_entry_says_unknown():
    listed = hit_list({"198.51.100.66": Entry(3600, 3600)}, {}, NOW)
    assert listed[0]["first_seen"] is None and listed[0]["hits"] is None


def test_sources_only_seen_are_not_listed():
    assert hit_list({}, {"198.51.100.66": Entry(604800, 1, packets=9)}, NOW) == []


def test_summary_names_each_source_and_what_happens_to_it():
    listed = hit_list({"198.51.100.66": Entry(3600, 3590)}, {"198.51.100.66": Entry(604800, 604790, packets=2)}, NOW)
    lines = summary(listed, suppressing=True)
    assert lines[0] == "1 source(s) hit a trap, refused on every MX address of this host:"
    assert lines[1].startswith("198.51.100.66: 2 hit(s), first 2026-11-24T11:59:50Z, last 2026-11-24T11:59:50Z (10 s ago)")
    assert "recorded (suppression is off)" in summary(listed, suppressing=False)[0]


def test_summary_of_nothing_and_of_many():
    assert summary([], suppressing=False) == ["no trap hits remembered"]
    many = hit_list({"198.51.100.%d" % n: Entry(3600, 3600 - n) for n in range(1, 31)}, {}, NOW)
    lines = summary(many, suppressing=False, limit=20)
    assert len(lines) == 22 and lines[-1] == "... and 10 more (see the module's hits list)"
    assert "hits unknown, first unknown" in lines[1]


def test_carry_keeps_each_age_and_drops_what_the_new_timeout_has_passed():
    remembered = {"198.51.100.9": Entry(3600, 3590), "198.51.100.10": Entry(3600, 100)}
    # 10 s old: 590 s left of a new 600 s timeout; 3500 s old: gone. Rounded up, never shortening a suppression.
    assert carry(remembered, 600, {4: 32, 6: 64}) == [("198.51.100.9", 590, None)]
    assert carry({"198.51.100.9": Entry(3600, 3589.5)}, 600, {4: 32, 6: 64}) == [("198.51.100.9", 590, None)]


def test_carry_merges_sources_that_fall_into_one_prefix():
    remembered = {"2001:db8:0:1::5": Entry(604800, 604000, 2), "2001:db8:0:1::6": Entry(604800, 604700, 3),
                  "2001:db8:0:2::": Entry(604800, 604790, None)}
    assert carry(remembered, 604800, {4: 32, 6: 64}) == [("2001:db8:0:1::", 604700, 5), ("2001:db8:0:2::", 604790, None)]
    assert carry(remembered, 604800, {4: 32, 6: 48}) == [("2001:db8::", 604790, 5)]


def test_sources_grouped_by_prefix_are_shown_as_networks():
    assert network_of("2001:db8:1:2::5", 64) == "2001:db8:1:2::"
    assert source_label("2001:db8:1:2::", {4: 32, 6: 64}) == "2001:db8:1:2::/64"
    assert source_label("198.51.100.9", {4: 32, 6: 64}) == "198.51.100.9"
    assert source_label("198.51.100.0", {4: 24, 6: 64}) == "198.51.100.0/24"


def test_fill_levels_fullest_first_and_a_warning_above_90_percent():
    levels = fill_levels({"hits4": (10, 100), "seen4": (95, 100), "tried6": (0, 100)})
    assert [level["set"] for level in levels] == ["seen4", "hits4", "tried6"]
    assert levels[0] == {"set": "seen4", "elements": 95, "size": 100, "percent": 95.0}
    warnings = fill_warnings(levels)
    assert len(warnings) == 1 and warnings[0].startswith("set seen4 is 95.0 % full (95 of 100)")
