"""Live-verification checks: pure functions over what was looked up and probed."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._verify import check_addresses, check_mx, check_probe, probe_plan, run_probes, table

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


@pytest.mark.parametrize("outcome, greeting, consequence", [
    ("greeting", "220 dead.example.test ESMTP", "nolisting does nothing"),
    ("tempfail_greeting", "421 4.3.2 try again later", "qmail senders defer the whole message and never reach the next MX"),
    ("reject_greeting", "554 5.7.1 go away", "qmail senders defer the whole message and never reach the next MX"),
])
def test_a_dead_primary_that_greets_names_the_consequence_and_the_fix(outcome, greeting, consequence):
    result = check_probe(DEAD, {"address": "203.0.113.10", "outcome": outcome, "latency": 0.01, "greeting": greeting})
    assert not result["ok"] and result["observed"] == outcome
    assert consequence in result["hint"]
    assert "dead_primary role" in result["hint"] and "dead_primary_action: reset" in result["hint"]


def test_a_4xx_dead_primary_also_costs_every_other_sender_a_wait():
    result = check_probe(DEAD, {"address": "203.0.113.10", "outcome": "tempfail_greeting", "latency": 0.01})
    assert "every other sender waits" in result["hint"]


def test_table_lists_every_check_and_what_to_fix():
    results = [check_mx("example.test.", ["10 a.example.test."], ["10 a.example.test."]),
               check_probe(DEAD, {"address": "203.0.113.10", "outcome": "greeting", "latency": 0.01})]
    lines = table(results)
    assert lines[0].split() == ["check", "target", "expected", "observed"]
    assert lines[1].startswith("OK") and lines[2].startswith("FAIL")
    assert lines[-1].startswith("FAIL smtp-dead nolist.example.test. 203.0.113.10: the dead primary greets")


# --- the probes: an orderly sender, one address after the other in MX order ----------------------------------

PRIMARY = {"preference": 20, "host": "mail.example.test.", "role": "live", "addresses": ["203.0.113.22", "203.0.113.21"]}
BACKSTOP = {"preference": 90, "host": "backstop.example.test.", "role": "backstop", "addresses": ["203.0.113.21"]}
TRAP = {"preference": 50, "host": "trap.example.test.", "role": "trap", "addresses": ["203.0.113.91", "2001:db8::91"]}


def test_probe_plan_is_mx_order_then_layout_order_within_a_record():
    # Given in any order, DNS answers sorted: the plan follows preference, then each record's layout order.
    targets = [(BACKSTOP, ["203.0.113.21"]), (TRAP, ["2001:db8::91", "203.0.113.91"]), (DEAD, ["203.0.113.10"]),
               (PRIMARY, ["203.0.113.21", "203.0.113.22"])]
    assert [(record["host"], address) for record, address in probe_plan(targets)] == [
        ("nolist.example.test.", "203.0.113.10"),
        ("mail.example.test.", "203.0.113.22"),
        ("mail.example.test.", "203.0.113.21"),
        ("trap.example.test.", "203.0.113.91"),
        ("trap.example.test.", "2001:db8::91"),
        ("backstop.example.test.", "203.0.113.21"),
    ]


def test_probe_plan_probes_published_addresses_only_unlisted_ones_after_the_listed():
    plan = probe_plan([(PRIMARY, ["203.0.113.99", "203.0.113.21"]), (LIVE, ["203.0.113.30"])])
    assert [address for record, address in plan] == ["203.0.113.21", "203.0.113.99", "203.0.113.30"]


class Recorder:
    """A fake probe that records the order of connections and that it is never entered twice at once."""

    def __init__(self, outcomes):
        self.outcomes = outcomes
        self.order = []
        self.active = 0
        self.most_active = 0

    def __call__(self, address):
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        self.order.append(address)
        self.active -= 1
        return {"address": address, "outcome": self.outcomes[address], "latency": 0.0, "greeting": ""}


def test_run_probes_one_at_a_time_in_plan_order():
    targets = [(TRAP, TRAP["addresses"]), (DEAD, DEAD["addresses"]), (PRIMARY, PRIMARY["addresses"]), (BACKSTOP, BACKSTOP["addresses"])]
    recorder = Recorder({"203.0.113.10": "refused", "203.0.113.22": "greeting", "203.0.113.21": "greeting",
                         "203.0.113.91": "greeting", "2001:db8::91": "greeting"})
    results = run_probes(probe_plan(targets), recorder)
    assert recorder.order == ["203.0.113.10", "203.0.113.22", "203.0.113.21", "203.0.113.91", "2001:db8::91", "203.0.113.21"]
    assert recorder.most_active == 1
    assert all(result["ok"] for result in results)
    assert [result["target"] for result in results][:2] == ["nolist.example.test. 203.0.113.10", "mail.example.test. 203.0.113.22"]


@pytest.mark.parametrize("primary_outcome", ["refused", "timeout", "unreachable"])
def test_a_trap_is_never_probed_before_the_primary_took_a_connection(primary_outcome):
    recorder = Recorder({"203.0.113.10": "refused", "203.0.113.22": primary_outcome, "203.0.113.21": primary_outcome,
                         "203.0.113.91": "greeting", "2001:db8::91": "greeting"})
    results = run_probes(probe_plan([(DEAD, DEAD["addresses"]), (PRIMARY, PRIMARY["addresses"]), (TRAP, TRAP["addresses"])]), recorder)
    assert recorder.order == ["203.0.113.10", "203.0.113.22", "203.0.113.21"]
    traps = [result for result in results if result["check"] == "smtp-trap"]
    assert [(result["observed"], result["ok"]) for result in traps] == [("not probed", False)] * 2
    assert "trap firewall records a sender" in traps[0]["hint"]


def test_a_trap_without_a_live_mx_in_the_plan_is_not_probed():
    # The primary was not looked up (outside the zone): nothing of the host's own was connected to.
    recorder = Recorder({"203.0.113.10": "refused"})
    results = run_probes(probe_plan([(DEAD, DEAD["addresses"]), (TRAP, TRAP["addresses"])]), recorder)
    assert recorder.order == ["203.0.113.10"]
    assert [result["observed"] for result in results] == ["refused", "not probed", "not probed"]


@pytest.mark.parametrize("outcome, hint", [("slow_greeting", "trickles"), ("oversized", "longer than 512 octets")])
def test_hostile_outcomes_have_hints(outcome, hint):
    result = check_probe(LIVE, {"address": "203.0.113.20", "outcome": outcome, "latency": 5})
    assert not result["ok"] and hint in result["hint"]


def test_a_trap_waits_for_the_primary_not_a_secondary_live_mx():
    # The trap firewall is on the primary host: a greeting from another live MX does not count.
    secondary = {"preference": 30, "host": "mx2.example.test.", "role": "live", "addresses": ["198.51.100.30"]}
    recorder = Recorder({"203.0.113.22": "refused", "203.0.113.21": "refused", "198.51.100.30": "greeting"})
    results = run_probes(probe_plan([(PRIMARY, PRIMARY["addresses"]), (secondary, secondary["addresses"]),
                                     (TRAP, TRAP["addresses"])]), recorder)
    assert recorder.order == ["203.0.113.22", "203.0.113.21", "198.51.100.30"]
    assert [result["observed"] for result in results][-2:] == ["not probed", "not probed"]


def test_a_greeting_backstop_lets_the_trap_be_probed():
    # A backstop lists the primary's addresses (or uses its name): connecting there counts as the primary's.
    recorder = Recorder({"203.0.113.22": "refused", "203.0.113.21": "greeting", "203.0.113.91": "greeting", "2001:db8::91": "greeting"})
    primary_one = dict(PRIMARY, addresses=["203.0.113.22"])
    backstop = dict(BACKSTOP, preference=40)
    run_probes(probe_plan([(primary_one, ["203.0.113.22"]), (backstop, ["203.0.113.21"]), (TRAP, TRAP["addresses"])]), recorder)
    assert recorder.order == ["203.0.113.22", "203.0.113.21", "203.0.113.91", "2001:db8::91"]
