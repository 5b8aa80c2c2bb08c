"""lab.demo.audit_check: what the demo and the matrix expect of the audit, per lab host."""

from lab.demo import audit_check

ADDRESSES = {"sender": ["198.51.100.40", "2001:db8:de::40"], "crude": ["198.51.100.66"], "partner": ["198.51.100.70"]}


def item(source, verdict, refused=2, delay=0.03):
    return {"source": source, "verdict": verdict, "refused": refused, "retry_delay": delay if verdict == "retried" else None}


def test_the_expected_verdicts_pass_and_print_one_line_per_refused_address():
    report = {"sources": [item("198.51.100.40", "retried", 16), item("2001:db8:de::40", "retried"), item("198.51.100.66", "gave_up")]}
    lines, problems = audit_check.check(report, ADDRESSES, audit_check.EXPECTED)
    assert problems == []
    assert lines == ["postfix sender 198.51.100.40: refused 16 times, retried a live MX 30 ms later (real MTA)",
                     "postfix sender 2001:db8:de::40: refused 2 times, retried a live MX 30 ms later (real MTA)",
                     "crude sender 198.51.100.66: refused 2 times, never retried -> allowlist candidate",
                     "allowlisted partner 198.51.100.70: never refused"]


def test_a_wrong_verdict_a_refused_partner_and_a_missing_mta_are_problems():
    report = {"sources": [item("198.51.100.66", "retried"), item("198.51.100.70", "gave_up")]}
    dummy, problems = audit_check.check(report, ADDRESSES, audit_check.EXPECTED)
    assert problems == ["postfix sender (sender) is not in the audit: the dead primary refused none of its addresses",
                        "crude sender 198.51.100.66: retried, expected gave_up",
                        "allowlisted partner 198.51.100.70 was refused at the dead primary"]
