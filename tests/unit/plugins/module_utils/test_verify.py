"""Live-verification checks: pure functions over what was looked up and probed."""

from ansible_collections.mailsec.mx.plugins.module_utils._verify import check_addresses, check_mx, check_probe, table

DEAD = {"preference": 10, "host": "nolist.example.test.", "role": "dead", "addresses": ["203.0.113.10"]}
LIVE = {"preference": 20, "host": "mail.example.test.", "role": "live", "addresses": []}


def test_mx_compares_as_sets_and_says_what_is_missing():
    assert check_mx("example.test.", ["10 a.example.test.", "20 b.example.test."], ["20 b.example.test.", "10 a.example.test."])["ok"]
    result = check_mx("example.test.", ["10 a.example.test.", "20 b.example.test."], ["20 b.example.test."])
    assert not result["ok"] and "missing: 10 a.example.test." in result["hint"]


def test_addresses_listed_must_match_unlisted_must_resolve_and_no_cname():
    assert [r["ok"] for r in check_addresses(DEAD, ["203.0.113.10"], [])] == [True]
    assert [r["ok"] for r in check_addresses(DEAD, ["203.0.113.11"], [])] == [False]
    assert [r["ok"] for r in check_addresses(LIVE, [], [])] == [False]
    results = check_addresses(LIVE, ["203.0.113.20"], ["mx.elsewhere.test."])
    assert [(r["check"], r["ok"]) for r in results] == [("no-cname", False), ("resolves", True)]


def test_probe_expectations_per_role_with_hints():
    assert check_probe(DEAD, {"address": "203.0.113.10", "outcome": "refused", "latency": 0.001})["ok"]
    greeting = check_probe(DEAD, {"address": "203.0.113.10", "outcome": "greeting", "latency": 0.01, "greeting": "220 x"})
    assert not greeting["ok"] and "dead_primary role" in greeting["hint"]
    drop = check_probe(DEAD, {"address": "203.0.113.10", "outcome": "timeout", "latency": 5})
    assert "30 s to 5 min" in drop["hint"]
    assert check_probe(LIVE, {"address": "203.0.113.20", "outcome": "greeting", "latency": 0.01})["ok"]
    assert not check_probe(dict(LIVE, role="trap"), {"address": "203.0.113.91", "outcome": "refused", "latency": 0})["ok"]


def test_table_lists_every_check_and_what_to_fix():
    results = [check_mx("example.test.", ["10 a.example.test."], ["10 a.example.test."]),
               check_probe(DEAD, {"address": "203.0.113.10", "outcome": "greeting", "latency": 0.01})]
    lines = table(results)
    assert lines[0].split() == ["check", "target", "expected", "observed"]
    assert lines[1].startswith("OK") and lines[2].startswith("FAIL")
    assert lines[-1].startswith("FAIL smtp-dead nolist.example.test. 203.0.113.10: the dead primary greets")
