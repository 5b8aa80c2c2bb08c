"""Many domains in one verification: entries checked first, each question and each address once, per-domain checks."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _verify_domains
from ansible_collections.mailsec.mx.plugins.module_utils._layout import ordered_layout
from ansible_collections.mailsec.mx.plugins.module_utils._verify_domains import (
    CONFLICT_HINT,
    DomainsError,
    check_domains,
    domain_lookups,
    failure_message,
    failures,
    probe_all,
    probe_order,
    questions,
    summary,
    verify_domains,
)
from ansible_collections.mailsec.mx.plugins.modules import mx_verify

DEAD, PRIMARY, SECOND, TRAP = "203.0.113.10", "203.0.113.20", "203.0.113.21", "203.0.113.90"
SHARED = [
    {"preference": 10, "host": "nolist.provider.test", "role": "dead", "addresses": [DEAD]},
    {"preference": 20, "host": "mx1.provider.test", "addresses": [PRIMARY]},
    {"preference": 30, "host": "mx2.provider.test", "addresses": [SECOND]},
    {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]},
]
OUTCOMES = {DEAD: "refused", PRIMARY: "greeting", SECOND: "greeting", TRAP: "greeting"}


class Recorder:
    """A fake probe: the order of connections, and that it is never entered twice at once."""

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
        return {"address": address, "outcome": self.outcomes[address], "latency": 0.001, "greeting": "220 mx"}


def published(domains, missing=()):
    """What a name server would answer for every question: each domain's own layout, addresses of its hosts."""
    answers = {}
    for domain in domains:
        answers[(domain["owner"], "MX")] = sorted("%d %s" % (record["preference"], record["host"]) for record in domain["records"])
        for record in domain["records"]:
            answers[(record["host"], "A")] = sorted(record["addresses"])
            answers[(record["host"], "AAAA")] = []
            answers[(record["host"], "CNAME")] = []
    for question in missing:
        answers[question] = LookupError("no name server answered %s %s (192.0.2.53: REFUSED)" % question)
    return answers


# --- the entries ---------------------------------------------------------------------------------------------------

def test_entries_take_the_default_layout_and_the_apex_and_a_shared_layout_is_checked_once(monkeypatch):
    checked = []
    real = _verify_domains.ordered_layout

    def counting(layout):
        checked.append(layout)
        return real(layout)

    monkeypatch.setattr(_verify_domains, "ordered_layout", counting)
    own = [{"preference": 10, "host": "mail.c.test", "addresses": ["198.51.100.7"]}]
    domains = check_domains([{"zone": "A.test"}, {"zone": "b.test.", "name": "mail.b.test"}, {"zone": "c.test", "layout": own},
                             {"zone": "d.test", "layout": [dict(record) for record in SHARED]}], SHARED)
    assert [(domain["zone"], domain["owner"]) for domain in domains] == [
        ("a.test.", "a.test."), ("b.test.", "mail.b.test."), ("c.test.", "c.test."), ("d.test.", "d.test.")]
    assert domains[0]["records"] == ordered_layout(SHARED) and domains[2]["records"] == ordered_layout(own)
    assert domains[0]["rdata"] == ["10 nolist.provider.test.", "20 mx1.provider.test.", "30 mx2.provider.test.", "90 trap.provider.test."]
    # An equal layout given again (d.test) is the same layout: two distinct layouts, two checks.
    assert len(checked) == 2


def test_every_bad_entry_is_named_in_one_error():
    bad_layout = [{"preference": 10, "host": "mail.example.test", "role": "dead", "addresses": ["203.0.113.1"]}]
    entries = [
        {"zone": "good.test"},
        "bad.test",
        {"zone": "extra.test", "ttl": 300},
        {"name": "mail.nozone.test"},
        {"zone": "evil.test\n"},
        {"zone": "label"},
        {"zone": "broken.test", "layout": bad_layout},
        {"zone": "good.test", "name": "good.test."},
    ]
    with pytest.raises(DomainsError) as caught:
        check_domains(entries, SHARED)
    message = str(caught.value)
    assert message.startswith("7 of 8 entries of domains cannot be verified; nothing was looked up or probed")
    for expected in ("domains[1]: is a str, not a mapping", "domains[2]: unknown key(s) ttl",
                     "domains[3].zone: is missing", r"domains[4].zone: 'evil.test\n' contains a control character",
                     "domains[5].zone: 'label' is a single label", "domains[6] (broken.test.): the MX layout has",
                     "domains[7] (good.test.): the MX owner good.test. is listed already, at domains[0]"):
        assert expected in message
    assert [problem["index"] for problem in caught.value.problems] == [1, 2, 3, 4, 5, 6, 7]


def test_without_a_default_layout_an_entry_needs_its_own():
    with pytest.raises(DomainsError, match=r"domains\[0\] \(a.test.\): no layout, and the module's layout option is not set"):
        check_domains([{"zone": "a.test"}])
    with pytest.raises(DomainsError, match="non-empty list"):
        check_domains([], SHARED)


def test_entries_that_share_a_bad_layout_are_named_together_the_first_twenty_then_counted():
    bad = [{"preference": 10, "host": "mail.example.test", "role": "trap", "addresses": ["203.0.113.1"]}]
    with pytest.raises(DomainsError) as caught:
        check_domains([{"zone": "d%02d.test" % number} for number in range(30)], bad)
    message = str(caught.value)
    assert message.count("the MX layout has") == 1
    assert "domains[0] (d00.test.), domains[1] (d01.test.)" in message and "domains[19] (d19.test.) and 10 more" in message
    assert len(caught.value.problems) == 30


# --- DNS ---------------------------------------------------------------------------------------------------------

def test_each_question_once_however_many_domains_share_the_hosts():
    null = [{"preference": 0, "host": "."}]
    domains = check_domains([{"zone": "d%d.test" % number} for number in range(50)] + [{"zone": "null.test", "layout": null}], SHARED)
    asked = questions(domains)
    assert len(asked) == len(set(asked)) == 51 + 4 * 3
    assert asked[:2] == [("d0.test.", "MX"), ("d1.test.", "MX")]
    assert ("mx1.provider.test.", "CNAME") in asked and not [question for question in asked if question[0] == "."]


def test_a_name_without_answer_fails_its_domain_only():
    inside = [{"preference": 10, "host": "mail.b.test", "addresses": ["198.51.100.20"]},
              {"preference": 20, "host": "mx.elsewhere.test", "addresses": ["198.51.100.21"]}]
    domains = check_domains([{"zone": "a.test"}, {"zone": "b.test", "layout": inside}], SHARED)
    answers = published(domains, missing=[("a.test.", "MX"), ("mail.b.test.", "AAAA"), ("mx.elsewhere.test.", "A")])
    checks, targets = domain_lookups(domains[0], answers)
    assert (checks[0]["check"], checks[0]["target"], checks[0]["ok"]) == ("lookup", "a.test. MX", False)
    assert "REFUSED" in checks[0]["observed"] and len(targets) == 4
    checks, targets = domain_lookups(domains[1], answers)
    assert [(check["check"], check["target"], check["ok"]) for check in checks] == [
        ("mx-rrset", "b.test.", True), ("lookup", "mail.b.test. A/AAAA", False), ("resolves", "mx.elsewhere.test.", True)]
    assert targets == []


# --- the probes --------------------------------------------------------------------------------------------------

def test_each_address_is_probed_once_one_at_a_time_in_mx_order():
    domains = check_domains([{"zone": "d%d.test" % number} for number in range(100)], SHARED)
    recorder = Recorder(OUTCOMES)
    verified, results = verify_domains(domains, published(domains), recorder)
    assert recorder.order == [DEAD, PRIMARY, SECOND, TRAP] and recorder.most_active == 1
    assert list(results) == recorder.order
    assert all(domain["ok"] for domain in verified)
    assert [check["target"] for check in verified[57]["checks"] if check["check"].startswith("smtp-")] == [
        "nolist.provider.test. %s" % DEAD, "mx1.provider.test. %s" % PRIMARY, "mx2.provider.test. %s" % SECOND,
        "trap.provider.test. %s" % TRAP]


def test_an_address_every_domain_lists_twice_is_still_probed_once():
    backstop = [dict(record) for record in SHARED] + [{"preference": 95, "host": "backstop.provider.test", "role": "backstop",
                                                       "addresses": [PRIMARY]}]
    domains = check_domains([{"zone": "a.test"}, {"zone": "b.test"}], backstop)
    recorder = Recorder(OUTCOMES)
    verified, dummy = verify_domains(domains, published(domains), recorder)
    assert recorder.order == [DEAD, PRIMARY, SECOND, TRAP]
    # Both records of b.test that list the address are checked, from the one probe.
    assert [check["check"] for check in verified[1]["checks"] if check["target"].endswith(" " + PRIMARY)] == ["smtp-live", "smtp-backstop"]


def test_each_domain_gets_the_checks_the_one_domain_form_gives():
    layouts = {
        "a.test": SHARED,
        "b.test": [{"preference": 5, "host": "mx.b.test", "addresses": ["203.0.113.55", SECOND]},
                   {"preference": 50, "host": "trap.b.test", "role": "trap", "addresses": ["203.0.113.56"]}],
    }
    outcomes = dict(OUTCOMES, **{"203.0.113.55": "refused", "203.0.113.56": "greeting"})
    domains = check_domains([{"zone": zone, "layout": layout} for zone, layout in layouts.items()])
    answers = published(domains)
    verified, dummy = verify_domains(domains, answers, Recorder(outcomes))

    class OneDomainLookup:
        def values(self, name, rtype):
            return answers[(name, rtype)]

        def addresses(self, name, zone):
            return answers[(name, "A")] + answers[(name, "AAAA")], answers[(name, "CNAME")]

    for domain, result in zip(domains, verified):
        params = {"layout": layouts[domain["zone"].rstrip(".")], "probe": True, "timeout": 5.0, "source": None}
        alone = mx_verify.verify(params, domain["records"], domain["owner"], domain["zone"], OneDomainLookup(), Recorder(outcomes))
        assert result["checks"] == alone
        assert result["ok"] is all(check["ok"] for check in alone)


def test_a_trap_waits_for_its_own_mx_and_is_probed_later_when_another_domain_meets_one():
    # a.test's primary refuses, so its trap may not be connected to yet; b.test's primary greets later in the run.
    first = [{"preference": 10, "host": "mx.a.test", "addresses": ["203.0.113.30"]},
             {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]}]
    second = [{"preference": 10, "host": "mx.b.test", "addresses": ["203.0.113.31"]},
              {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]}]
    domains = check_domains([{"zone": "a.test", "layout": first}, {"zone": "b.test", "layout": second}])
    recorder = Recorder({"203.0.113.30": "refused", "203.0.113.31": "greeting", TRAP: "greeting"})
    verified, results = verify_domains(domains, published(domains), recorder)
    assert recorder.order == ["203.0.113.30", "203.0.113.31", TRAP]
    # a.test's own primary never took a connection: as alone, its trap check says so.
    assert [check["observed"] for check in verified[0]["checks"] if check["check"].startswith("smtp-")] == ["refused", "not probed"]
    assert verified[1]["ok"] and results[TRAP]["outcome"] == "greeting"


def test_a_trap_is_never_probed_when_no_own_mx_took_a_connection():
    domains = check_domains([{"zone": "a.test"}, {"zone": "b.test"}], SHARED)
    recorder = Recorder(dict(OUTCOMES, **{PRIMARY: "timeout"}))
    verified, results = verify_domains(domains, published(domains), recorder)
    assert recorder.order == [DEAD, PRIMARY, SECOND] and TRAP not in results
    for domain in verified:
        assert [check["observed"] for check in domain["checks"] if check["check"] == "smtp-trap"] == ["not probed"]


def test_an_address_is_checked_against_each_domains_own_role():
    # 203.0.113.20 is a's live primary and b's dead primary: probed once, it passes for a and fails for b.
    dead_here = [{"preference": 10, "host": "old.b.test", "role": "dead", "addresses": [PRIMARY]},
                 {"preference": 20, "host": "mx.b.test", "addresses": [SECOND]}]
    domains = check_domains([{"zone": "a.test"}, {"zone": "b.test", "layout": dead_here}], SHARED)
    recorder = Recorder(OUTCOMES)
    verified, dummy = verify_domains(domains, published(domains), recorder)
    assert recorder.order.count(PRIMARY) == 1
    assert verified[0]["ok"] and not verified[1]["ok"]
    failed = [check for check in verified[1]["checks"] if not check["ok"]]
    assert [(check["check"], check["observed"]) for check in failed] == [("smtp-dead", "greeting")]
    assert "the dead primary greets" in failed[0]["hint"]


def test_an_address_another_domain_makes_a_trap_is_left_alone_until_that_trap_host_was_met():
    # b.test calls 203.0.113.90 a live MX; a.test calls it a trap and a.test's own primary never answers.
    live_here = [{"preference": 10, "host": "trap.provider.test", "addresses": [TRAP]}]
    domains = check_domains([{"zone": "a.test"}, {"zone": "b.test", "layout": live_here}], SHARED)
    recorder = Recorder(dict(OUTCOMES, **{PRIMARY: "refused", SECOND: "refused"}))
    verified, dummy = verify_domains(domains, published(domains), recorder)
    assert TRAP not in recorder.order
    check = next(check for check in verified[1]["checks"] if check["check"] == "smtp-live")
    assert (check["observed"], check["ok"], check["hint"]) == ("not probed", False, CONFLICT_HINT)


def test_probe_order_guards_each_trap_with_the_own_mx_of_every_domain_that_makes_it_one():
    other = [{"preference": 10, "host": "mx.b.test", "addresses": ["203.0.113.31"]},
             {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]}]
    domains = check_domains([{"zone": "a.test"}, {"zone": "b.test", "layout": other}], SHARED)
    answers = published(domains)
    from ansible_collections.mailsec.mx.plugins.module_utils._verify import probe_plan  # pylint: disable=import-outside-toplevel
    plans = [(domain["records"], probe_plan(domain_lookups(domain, answers)[1])) for domain in domains]
    order, guards = probe_order(plans)
    assert order == [DEAD, PRIMARY, SECOND, TRAP, "203.0.113.31"]
    assert guards == {TRAP: {PRIMARY, "203.0.113.31"}}
    # The guard is met by b.test's primary only: the trap waits for it, then goes last.
    recorder = Recorder({DEAD: "refused", PRIMARY: "refused", SECOND: "greeting", "203.0.113.31": "greeting", TRAP: "greeting"})
    probe_all(order, guards, recorder)
    assert recorder.order == [DEAD, PRIMARY, SECOND, "203.0.113.31", TRAP]


def test_without_connect_nothing_is_probed():
    domains = check_domains([{"zone": "a.test"}], SHARED)
    verified, results = verify_domains(domains, published(domains))
    assert results == {} and not [check for check in verified[0]["checks"] if check["check"].startswith("smtp-")]


# --- the summary -------------------------------------------------------------------------------------------------

def test_the_summary_of_ten_thousand_passing_domains_is_a_few_lines():
    domains = check_domains([{"zone": "d%05d.test" % number} for number in range(10_000)], SHARED)
    verified, results = verify_domains(domains, published(domains), Recorder(OUTCOMES))
    lines = summary(verified, results, questions_asked=10_012)
    assert lines[:3] == ["10000 domains: 10000 passed, 0 failed", "DNS: 10012 questions, each asked once",
                         "probes: 4 addresses, each probed once"]
    assert lines[3].split() == ["OK", DEAD, "refused", "dead", "in", "10000"]
    assert len(lines) == 7


def test_the_summary_gives_every_failure_in_full_and_a_shared_one_once():
    domains = check_domains([{"zone": "d%02d.test" % number} for number in range(30)], SHARED)
    answers = published(domains)
    answers[("d07.test.", "MX")] = ["10 nolist.provider.test."]
    verified, results = verify_domains(domains, answers, Recorder(dict(OUTCOMES, **{SECOND: "refused"})))
    lines = summary(verified, results)
    assert lines[0] == "30 domains: 0 passed, 30 failed"
    assert any(line.split()[:4] == ["FAIL", SECOND, "refused", "live"] for line in lines)
    shared = [line for line in lines if line.startswith("FAIL smtp-live mx2.provider.test. %s" % SECOND)]
    assert len(shared) == 1
    assert "(30 domains: d00.test., d01.test.," in shared[0] and "d19.test. and 10 more)" in shared[0]
    assert "expected greeting, observed refused: a live MX refuses connections" in shared[0]
    own = [line for line in lines if line.startswith("FAIL mx-rrset")]
    assert own == ["FAIL mx-rrset d07.test. (d07.test.): expected 10 nolist.provider.test., 20 mx1.provider.test., "
                   "30 mx2.provider.test., 90 trap.provider.test., observed 10 nolist.provider.test.: publish the layout "
                   "(mx_records role); missing: 20 mx1.provider.test., 30 mx2.provider.test., 90 trap.provider.test.; "
                   "unexpected: none"]
    assert len(failures(verified)) == 2


def test_the_failure_message_names_the_first_twenty_failed_domains_and_counts_the_rest():
    domains = check_domains([{"zone": "d%02d.test" % number} for number in range(40)], SHARED)
    answers = published(domains)
    for domain in domains[:25]:
        answers[(domain["owner"], "MX")] = []
    verified, dummy = verify_domains(domains, answers, Recorder(OUTCOMES))
    message = failure_message(verified)
    assert message.startswith("25 of 40 domains failed: d00.test., d01.test.,")
    assert "d19.test. and 5 more. mx-rrset d00.test.: publish the layout" in message
    assert "and 20 more kinds of failure (see table)" in message


# --- pipelined lookups, against fake name servers on loopback -------------------------------------------------------

class FakeNameServer:
    """A DNS server over TCP on ``address``:``port`` that answers every question it has read, newest first.

    Names starting with ``truncated``, ``servfail`` or ``garbage`` get a truncated answer, SERVFAIL, or bytes that are no
    DNS message; ``close_after`` closes each connection after that many answers. ``asked`` counts the questions read.
    """

    def __init__(self, address, port=0, close_after=None, broken=True):
        import socket  # pylint: disable=import-outside-toplevel
        import threading  # pylint: disable=import-outside-toplevel

        self.close_after = close_after
        self.broken = broken
        self.asked = 0
        self.connections = 0
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((address, port))
        self.listener.listen(8)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                connection, dummy = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                self.answer(connection)

    def answer(self, connection):
        import struct  # pylint: disable=import-outside-toplevel

        buffer, answered = b"", 0
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                return
            buffer += chunk
            queries = []
            while len(buffer) >= 2 and len(buffer) >= 2 + struct.unpack("!H", buffer[:2])[0]:
                length = struct.unpack("!H", buffer[:2])[0]
                queries.append(buffer[2:2 + length])
                buffer = buffer[2 + length:]
            for wire in reversed(queries):
                self.asked += 1
                reply = self.reply(wire)
                connection.sendall(struct.pack("!H", len(reply)) + reply)
                answered += 1
                if self.close_after and answered >= self.close_after:
                    return

    def reply(self, wire):
        import dns.flags  # pylint: disable=import-outside-toplevel
        import dns.message  # pylint: disable=import-outside-toplevel
        import dns.rcode  # pylint: disable=import-outside-toplevel
        import dns.rrset  # pylint: disable=import-outside-toplevel

        query = dns.message.from_wire(wire)
        name = query.question[0].name.to_text()
        response = dns.message.make_response(query)
        if self.broken and name.startswith("garbage"):
            return b"\x00\x01not a dns message"
        if self.broken and name.startswith("truncated"):
            response.flags |= dns.flags.TC
        elif self.broken and name.startswith("servfail"):
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name.startswith("nx"):
            response.set_rcode(dns.rcode.NXDOMAIN)
        else:
            number = int(name.split(".")[0].lstrip("abcdefghijklmnopqrstuvwxyz") or 0)
            response.answer.append(dns.rrset.from_text(name, 300, "IN", "A", "198.51.100.%d" % (number % 250 + 1)))
            response.answer.append(dns.rrset.from_text("other.test.", 300, "IN", "TXT", '"not an address"'))
        return response.to_wire()

    def close(self):
        import socket  # pylint: disable=import-outside-toplevel

        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(timeout=10)


def test_many_questions_are_pipelined_on_one_connection_and_matched_to_answers_given_in_any_order():
    server = FakeNameServer("127.0.0.1")
    try:
        wanted = [("h%d.test." % number, "A") for number in range(1000)] + [("nx.test.", "A")]
        answers = _verify_domains.PipelinedLookup(["127.0.0.1"], server.port, 10.0).answer_all(wanted)
    finally:
        server.close()
    assert server.connections == 1 and server.asked == 1001
    assert answers[("h7.test.", "A")] == ["198.51.100.8"] and answers[("h999.test.", "A")] == ["198.51.100.250"]
    assert answers[("nx.test.", "A")] == []


def test_a_connection_the_server_closes_is_opened_again_for_the_rest():
    server = FakeNameServer("127.0.0.1", close_after=100)
    try:
        wanted = [("h%d.test." % number, "A") for number in range(450)]
        answers = _verify_domains.PipelinedLookup(["127.0.0.1"], server.port, 10.0, window=40).answer_all(wanted)
    finally:
        server.close()
    assert all(answers[question] == ["198.51.100.%d" % (int(question[0][1:].split(".")[0]) % 250 + 1)] for question in wanted)
    assert server.connections >= 5


def test_truncated_failed_and_broken_answers_go_to_the_next_server_then_fail_with_each_servers_error():
    first = FakeNameServer("127.0.0.1")
    second = FakeNameServer("127.0.0.2", port=first.port, broken=False)
    wanted = [("h1.test.", "A"), ("truncated.test.", "A"), ("servfail.test.", "A"), ("garbage.test.", "A")]
    try:
        both = _verify_domains.PipelinedLookup(["127.0.0.1", "127.0.0.2"], first.port, 0.5).answer_all(wanted)
        alone = _verify_domains.PipelinedLookup(["127.0.0.1"], first.port, 0.5).answer_all(wanted)
    finally:
        first.close()
        second.close()
    assert both == {("h1.test.", "A"): ["198.51.100.2"], ("truncated.test.", "A"): ["198.51.100.1"],
                    ("servfail.test.", "A"): ["198.51.100.1"], ("garbage.test.", "A"): ["198.51.100.1"]}
    assert alone[("h1.test.", "A")] == ["198.51.100.2"]
    assert str(alone[("truncated.test.", "A")]) == "no name server answered truncated.test. A (127.0.0.1: truncated answer)"
    assert str(alone[("servfail.test.", "A")]) == "no name server answered servfail.test. A (127.0.0.1: SERVFAIL)"
    assert str(alone[("garbage.test.", "A")]) == "no name server answered garbage.test. A (127.0.0.1: no answer within 0.5 s)"


def test_a_server_that_refuses_connections_is_skipped():
    server = FakeNameServer("127.0.0.2")
    try:
        answers = _verify_domains.PipelinedLookup(["127.0.0.1", "127.0.0.2"], server.port, 5.0).answer_all([("h3.test.", "A")])
    finally:
        server.close()
    assert answers == {("h3.test.", "A"): ["198.51.100.4"]}
