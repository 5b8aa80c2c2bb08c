"""The mx_audit module run through main(): inputs checked first, the files it writes, check mode writes nothing."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _audit_module
from ansible_collections.mailsec.mx.plugins.modules import mx_audit
from tests.module_main import run_main

T = 1_780_000_000.0
REFUSED = [{"host": "dead", "sources": [{"source": "198.51.100.30", "first_seen": T, "last_seen": T + 1, "count": 2, "days": 1},
                                        {"source": "198.51.100.41", "first_seen": T, "last_seen": T, "count": 1, "days": 1}]}]
ARRIVALS = [{"host": "mx1", "sources": [{"source": "198.51.100.30", "first_seen": T + 0.1, "last_seen": T + 1.1, "count": 2}]},
            {"host": "mx2", "sources": []}]


def test_writes_the_report_and_the_candidates(tmp_path, capsys):
    report, candidates = tmp_path / "audit.json", tmp_path / "candidates.txt"
    result = run_main(mx_audit, capsys, refused=REFUSED, arrivals=ARRIVALS, ptr_limit=0,
                      report_path=str(report), candidates_path=str(candidates))
    assert result["changed"] is True and result["written"] == [str(report), str(candidates)]
    document = json.loads(report.read_text(encoding="utf-8"))
    assert {item["source"]: item["verdict"] for item in document["sources"]} == {"198.51.100.30": "retried", "198.51.100.41": "gave_up"}
    assert document["summary"]["gave_up"] == 1 == result["counts"]["gave_up"]
    assert [line.split()[0] for line in candidates.read_text(encoding="utf-8").splitlines() if not line.startswith("#")] == ["198.51.100.41"]
    assert result["summary"][0] == "of 2 source(s) refused at the dead primary in the last 7 days, 1 retried a live MX, 1 gave up"
    assert 'mailsec_mx_audit_sources{verdict="retried"} 1' in result["metrics"]


def test_check_mode_writes_nothing(tmp_path, capsys):
    result = run_main(mx_audit, capsys, refused=REFUSED, arrivals=ARRIVALS, ptr_limit=0, report_path=str(tmp_path / "a.json"),
                      _ansible_check_mode=True)
    assert result["changed"] is True and result["written"] == [] and list(tmp_path.iterdir()) == []
    assert result["counts"]["refused_sources"] == 2


def test_the_period_comes_from_what_the_dead_primary_remembers(capsys):
    refused = [dict(REFUSED[0], record_time=86400.0)]
    result = run_main(mx_audit, capsys, refused=refused, arrivals=ARRIVALS, ptr_limit=0)
    assert result["summary"][0].startswith("of 2 source(s) refused at the dead primary in the last 1 day,")
    assert run_main(mx_audit, capsys, refused=refused, arrivals=ARRIVALS, ptr_limit=0, period=7200)["counts"]["period_seconds"] == 7200


class SlowResolver:
    """A reverse zone that lists many names and answers each query after ``delay`` seconds of a fake clock."""

    def __init__(self, clock, names=50, delay=1.0):
        self.clock, self.names, self.delay, self.queries = clock, names, delay, []

    def resolve(self, name, rtype, lifetime):
        import dns.rdata  # pylint: disable=import-outside-toplevel
        import dns.rdataclass  # pylint: disable=import-outside-toplevel
        import dns.rdatatype  # pylint: disable=import-outside-toplevel
        self.queries.append((str(name), rtype, lifetime))
        self.clock[0] += self.delay
        if rtype == "PTR":
            return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.PTR, "host%d.example.test." % number) for number in range(self.names)]
        return [dns.rdata.from_text(dns.rdataclass.IN, dns.rdatatype.A, "198.51.100.99")]


def test_one_deadline_covers_every_query_of_an_address_and_few_names_are_tried(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(_audit_module.time, "monotonic", lambda: clock[0])
    resolver = SlowResolver(clock)
    assert _audit_module.confirmed_name(resolver, "198.51.100.7", timeout=3.5) == ("unconfirmed", "host0.example.test")
    # The PTR and at most MAX_PTR_NAMES confirmations, each with what is left of the one deadline, never after it.
    assert len(resolver.queries) <= 1 + _audit_module.MAX_PTR_NAMES and clock[0] <= 3.5 + resolver.delay
    assert [query[2] for query in resolver.queries] == sorted((query[2] for query in resolver.queries), reverse=True)


def test_without_paths_nothing_changes(capsys):
    result = run_main(mx_audit, capsys, refused=REFUSED, arrivals=ARRIVALS, ptr_limit=0)
    assert result["changed"] is False and result["written"] == []


@pytest.mark.parametrize("args, message", [
    ({"resolvers": ["ns.example.test"]}, "resolvers[1]: 'ns.example.test' is not an IP address"),
    ({"resolvers": ["198.51.100.53\n"]}, "resolvers[1]"),
    ({"resolver_port": 0}, "resolver_port must be from 1 to 65535"),
    ({"window": -1}, "window must be at least 0"),
    ({"report_path": "/nonexistent-dir/a.json"}, "report_path: the directory of /nonexistent-dir/a.json does not exist"),
    ({"refused": [{"host": "dead", "sources": [{"source": "198.51.100.1; rm -rf /", "last_seen": T}]}]}, "is not an address or a network"),
])
def test_a_bad_input_fails_before_anything_is_written(tmp_path, capsys, args, message):
    candidates = tmp_path / "candidates.txt"
    result = run_main(mx_audit, capsys, **dict(dict(refused=REFUSED, arrivals=ARRIVALS, ptr_limit=0, candidates_path=str(candidates)), **args))
    assert result["failed"] is True and message in result["msg"] and "nothing was looked up or written" in result["msg"]
    assert not candidates.exists()
