"""mx_verify's many-domain form (``domains``): options refused before any traffic, the result, the report, check mode."""

import json

import pytest

from ansible_collections.mailsec.mx.plugins.modules import mx_verify
from tests.module_main import run_main

DEAD = "203.0.113.10"
LIVE = "203.0.113.20"
TRAP = "203.0.113.90"
LAYOUT = [
    {"preference": 10, "host": "nolist.provider.test", "role": "dead", "addresses": [DEAD]},
    {"preference": 20, "host": "mx.provider.test", "addresses": [LIVE]},
    {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]},
]
MX = ["10 nolist.provider.test.", "20 mx.provider.test.", "90 trap.provider.test."]
OUTCOMES = {DEAD: "refused", LIVE: "greeting", TRAP: "greeting"}


class FakeLookup:
    """Answers every question from the layout; the MX of ``unpublished`` owners is empty. Records what was asked."""

    asked = []

    def __init__(self, nameservers, port, timeout, unpublished=()):
        self.unpublished = unpublished

    def answer_all(self, wanted):
        FakeLookup.asked.append(list(wanted))
        answers = {}
        for name, rtype in wanted:
            if rtype == "MX":
                answers[(name, rtype)] = [] if name in self.unpublished else list(MX)
            elif rtype == "A":
                answers[(name, rtype)] = next(record["addresses"] for record in LAYOUT if record["host"] + "." == name)
            else:
                answers[(name, rtype)] = []
        return answers


@pytest.fixture
def fakes(monkeypatch):
    probed = []
    FakeLookup.asked = []

    def probe(address, port, timeout, source):
        probed.append(address)
        return {"address": address, "port": port, "outcome": OUTCOMES[address], "greeting": "", "latency": 0.0, "error": "", "received": 0}

    monkeypatch.setattr(mx_verify, "PipelinedLookup", FakeLookup)
    monkeypatch.setattr(mx_verify, "probe", probe)
    return probed


def domains(count, prefix="d"):
    return [{"zone": "%s%d.test" % (prefix, number)} for number in range(count)]


def test_many_domains_one_call_each_address_probed_once(capsys, fakes):
    result = run_main(mx_verify, capsys, layout=LAYOUT, domains=domains(3), nameservers=["192.0.2.53"])
    assert result.get("failed") is not True, result.get("msg")
    assert fakes == [DEAD, LIVE, TRAP]
    assert len(FakeLookup.asked) == 1 and len(FakeLookup.asked[0]) == 3 + 3 * 3
    assert result["ok"] is True and result["changed"] is False
    assert result["domains_ok"] == ["d0.test.", "d1.test.", "d2.test."] and result["domains_failed"] == []
    assert [domain["zone"] for domain in result["domains"]] == result["domains_ok"]
    assert set(result["domains"][0]) == {"zone", "owner", "ok", "checks"}
    assert [probe["address"] for probe in result["probes"]] == [DEAD, LIVE, TRAP]
    assert result["table"][0] == "3 domains: 3 passed, 0 failed"
    assert result["invocation"]["module_args"]["domains"] == "3 entries"


def test_it_fails_at_the_end_naming_the_failed_domains(capsys, fakes, monkeypatch):
    monkeypatch.setattr(mx_verify, "PipelinedLookup", lambda *args: FakeLookup(*args, unpublished=("d1.test.", "d4.test.")))
    result = run_main(mx_verify, capsys, layout=LAYOUT, domains=domains(6), nameservers=["192.0.2.53"])
    assert result["failed"] is True and result["ok"] is False
    assert result["msg"].startswith("2 of 6 domains failed: d1.test., d4.test.. mx-rrset d1.test.: publish the layout")
    assert result["domains_failed"] == ["d1.test.", "d4.test."] and len(result["domains_ok"]) == 4
    assert fakes == [DEAD, LIVE, TRAP]


@pytest.mark.parametrize("args, message", [
    ({"zone": "example.test"}, "parameters are mutually exclusive: zone|domains"),
    ({"name": "mail.example.test"}, "parameters are mutually exclusive: name|domains"),
    ({"domains": [{"zone": "a.test"}, {"zone": "b\ttest"}, {"zone": "c.test", "layout": "bad"}]},
     "2 of 3 entries of domains cannot be verified; nothing was looked up or probed"),
    ({"nameservers": ["ns1.example.test"]}, "nameservers[1]: 'ns1.example.test' is not an IP address; nothing was looked up"),
    ({"report_path": "/nonexistent/dir/report.json"}, "report_path: /nonexistent/dir/report.json: the directory /nonexistent/dir does not exist"),
])
def test_bad_options_are_refused_before_any_traffic(capsys, monkeypatch, args, message):
    def no_traffic(*args, **kwargs):
        raise AssertionError("traffic")

    monkeypatch.setattr(mx_verify, "PipelinedLookup", no_traffic)
    monkeypatch.setattr(mx_verify, "probe", no_traffic)
    options = {"layout": LAYOUT, "domains": domains(2), "nameservers": ["192.0.2.53"]}
    options.update(args)
    result = run_main(mx_verify, capsys, **options)
    assert result["failed"] is True
    assert message in result["msg"]


def test_neither_zone_nor_domains_is_refused(capsys):
    result = run_main(mx_verify, capsys, layout=LAYOUT, nameservers=["192.0.2.53"])
    assert result["failed"] is True and "one of the following is required: zone, domains" in result["msg"]


def test_the_report_holds_every_domain_one_a_line(capsys, fakes, tmp_path):
    report = tmp_path / "verify.json"
    result = run_main(mx_verify, capsys, layout=LAYOUT, domains=domains(4), nameservers=["192.0.2.53"], report_path=str(report))
    text = report.read_text()
    written = json.loads(text)
    assert written["ok"] is True and written["domains_ok"] == result["domains_ok"] and written["domains_failed"] == []
    assert written["domains"] == result["domains"] and written["probes"] == result["probes"]
    assert len([line for line in text.splitlines() if line.startswith('{"checks": ')]) == 4
    assert oct(report.stat().st_mode & 0o777) == "0o644"
    assert [path.name for path in tmp_path.iterdir()] == ["verify.json"]


def test_check_mode_writes_no_report(capsys, fakes, tmp_path):
    report = tmp_path / "verify.json"
    result = run_main(mx_verify, capsys, layout=LAYOUT, domains=domains(2), nameservers=["192.0.2.53"], report_path=str(report),
                      _ansible_check_mode=True)
    assert result["ok"] is True and fakes == [DEAD, LIVE, TRAP]
    assert not report.exists()


def test_the_one_domain_report_is_what_the_role_wrote_with_to_nice_json(capsys, monkeypatch, tmp_path):
    from ansible.plugins.filter.core import to_nice_json  # pylint: disable=import-outside-toplevel

    class OneDomainLookup:
        def __init__(self, *args):
            pass

        def values(self, name, rtype):
            return list(MX)

        def addresses(self, name, zone):
            return next(record["addresses"] for record in LAYOUT if record["host"] + "." == name), []

    monkeypatch.setattr(mx_verify, "Lookup", OneDomainLookup)
    monkeypatch.setattr(mx_verify, "probe", lambda address, port, timeout, source: {
        "address": address, "outcome": "timeout" if address == LIVE else OUTCOMES[address], "latency": 0.5, "greeting": ""})
    report = tmp_path / "verify.json"
    result = run_main(mx_verify, capsys, layout=LAYOUT, zone="Example.test", nameservers=["192.0.2.53"], report_path=str(report))
    assert result["failed"] is True and "a live MX does not answer" in result["msg"]
    assert report.read_text() == to_nice_json({"zone": "Example.test", "ok": False, "checks": result["checks"]}) + "\n"
