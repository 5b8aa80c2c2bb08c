"""mx_verify with ``domains`` against a real BIND on 127.0.0.1 and real port-25 listeners on test addresses.

Three domains share the MX hosts of provider.test. (a dead primary, a live MX, a trap); c.test. has a live MX of its
own where nothing listens, so it fails. The MX addresses (198.51.100.x) sit on ``lo``: test_mx_verify_domains.py runs
this file in a network namespace of its own (``lab.netns``); the name keeps pytest from collecting it directly."""

import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import threading

import pytest

from ansible_collections.mailsec.mx.plugins.modules import mx_verify
from tests.integration.dns import servers
from tests.module_main import run_main

NAMESPACED = os.environ.get("MAILSEC_MX_VERIFY_NETNS") == "1"
ROOT = pathlib.Path(__file__).resolve().parents[4]

DEAD = "198.51.100.10"
LIVE = "198.51.100.20"
TRAP = "198.51.100.90"
OWN = "198.51.100.30"
SHARED = [
    {"preference": 10, "host": "nolist.provider.test", "role": "dead", "addresses": [DEAD]},
    {"preference": 20, "host": "mx.provider.test", "addresses": [LIVE]},
    {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]},
]
OWN_LIVE = [
    {"preference": 10, "host": "nolist.provider.test", "role": "dead", "addresses": [DEAD]},
    {"preference": 20, "host": "mx.c.test", "addresses": [OWN]},  # nothing listens: a reset
    {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]},
]
DOMAINS = [{"zone": "a.test"}, {"zone": "b.test"}, {"zone": "c.test", "layout": OWN_LIVE}]


def zone_text(zone, records, hosts=()):
    lines = ["$ORIGIN %s" % zone, "$TTL 300", "@ IN SOA ns hostmaster 1 3600 600 86400 300", "@ IN NS ns", "ns IN A %s" % servers.NS_ADDRESS]
    lines += ["@ IN MX %d %s." % (record["preference"], record["host"]) for record in records]
    lines += ["%s IN A %s" % (name, address) for name, address in hosts]
    return "\n".join(lines) + "\n"


ZONES = {
    "a.test.": zone_text("a.test.", SHARED),
    "b.test.": zone_text("b.test.", SHARED),
    "c.test.": zone_text("c.test.", OWN_LIVE, [("mx", OWN)]),
    "provider.test.": zone_text("provider.test.", [], [("nolist", DEAD), ("mx", LIVE), ("trap", TRAP)]),
}


@pytest.fixture(scope="module")
def test_addresses():
    assert NAMESPACED, "only ever inside the test's own network namespace"
    for address in (DEAD, LIVE, TRAP, OWN):
        subprocess.run(["ip", "address", "add", "%s/32" % address, "dev", "lo"], check=True, capture_output=True)
    yield


@pytest.fixture(scope="module")
def bind(tmp_path_factory, test_addresses):
    server = servers.start_bind(tmp_path_factory.mktemp("bind") / "named", list(ZONES), zone_texts=ZONES)
    yield server
    server.stop()


@pytest.fixture
def greeters(test_addresses):
    """Greeters on port 25 of LIVE and TRAP; ``order`` lists the addresses connected to, in order (nothing listens on
    DEAD or OWN: they answer with a reset)."""
    order = []
    listeners = []
    for address in (LIVE, TRAP):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, 25))
        listener.listen(8)
        listeners.append(listener)

    def serve(listener):
        while True:
            try:
                connection, dummy = listener.accept()
            except OSError:
                return
            with connection:
                order.append(listener.getsockname()[0])
                connection.sendall(b"220 mx.provider.test ESMTP\r\n")
                connection.settimeout(5)
                try:
                    connection.recv(64)
                except OSError:
                    pass

    threads = [threading.Thread(target=serve, args=(listener,), daemon=True) for listener in listeners]
    for thread in threads:
        thread.start()
    yield order
    for listener in listeners:
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
    for thread in threads:
        thread.join(timeout=10)


def test_each_address_is_probed_once_and_the_failing_domain_is_named(capsys, bind, greeters, tmp_path):
    report = tmp_path / "verify.json"
    result = run_main(mx_verify, capsys, layout=SHARED, domains=DOMAINS, nameservers=[bind.address], port=bind.port, timeout=30,
                      report_path=str(report))
    assert result["failed"] is True and result["ok"] is False
    assert result["domains_ok"] == ["a.test.", "b.test."] and result["domains_failed"] == ["c.test."]
    assert result["msg"].startswith("1 of 3 domains failed: c.test.. smtp-live mx.c.test. %s: a live MX refuses connections" % OWN)
    # One connection per greeter for three domains; the trap only after the primary took one.
    assert greeters == [LIVE, TRAP]
    # In the order the domains' plans first reach each address: a.test. reaches the trap before c.test. its own MX.
    assert [probe["address"] for probe in result["probes"]] == [DEAD, LIVE, TRAP, OWN]
    assert [probe["outcome"] for probe in result["probes"]] == ["refused", "greeting", "greeting", "refused"]
    by_zone = {domain["zone"]: domain for domain in result["domains"]}
    observed = {(check["check"], check["target"]): check["observed"] for check in by_zone["a.test."]["checks"]}
    assert observed[("mx-rrset", "a.test.")] == ["10 nolist.provider.test.", "20 mx.provider.test.", "90 trap.provider.test."]
    assert observed[("smtp-dead", "nolist.provider.test. %s" % DEAD)] == "refused"
    assert observed[("smtp-trap", "trap.provider.test. %s" % TRAP)] == "greeting"
    failed = [(check["check"], check["observed"]) for check in by_zone["c.test."]["checks"] if not check["ok"]]
    # c.test.'s own primary never took a connection: its trap check is not probed, as in the one-domain form.
    assert failed == [("smtp-live", "refused"), ("smtp-trap", "not probed")]
    assert result["table"][:3] == ["3 domains: 2 passed, 1 failed", "DNS: 15 questions, each asked once",
                                   "probes: 4 addresses, each probed once"]
    assert any(line.startswith("FAIL smtp-live mx.c.test. %s (c.test.): expected greeting, observed refused" % OWN)
               for line in result["table"])
    written = json.loads(report.read_text())
    assert written["domains_failed"] == ["c.test."] and written["domains"] == result["domains"]


def test_dns_only_asks_each_question_once_and_probes_nothing(capsys, bind, greeters):
    domains = [{"zone": "a.test"}, {"zone": "b.test"}, {"zone": "nowhere.test"}]
    result = run_main(mx_verify, capsys, layout=SHARED, domains=domains, nameservers=[bind.address], port=bind.port, timeout=30,
                      probe=False)
    assert greeters == [] and "probes" not in result
    assert result["domains_failed"] == ["nowhere.test."]
    lookup = result["domains"][2]["checks"][0]
    assert (lookup["check"], lookup["target"]) == ("lookup", "nowhere.test. MX")
    assert "REFUSED" in lookup["observed"]


def run_role(tmp_path, variables):
    playbook = tmp_path / "verify.yml"
    playbook.write_text(json.dumps([{"name": "Verify", "hosts": "localhost", "gather_facts": False,
                                     "roles": [{"role": "mailsec.mx.mx_verify"}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default")
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps(variables), str(playbook)]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    return result.returncode, result.stdout + result.stderr


def test_the_role_shows_the_summary_writes_every_domain_and_fails_naming_the_failed(bind, greeters, tmp_path):
    report = tmp_path / "report.json"
    returncode, output = run_role(tmp_path, {"mx_verify_layout": SHARED, "mx_verify_domains": DOMAINS, "mx_verify_nameservers": [bind.address],
                                             "mx_verify_port": bind.port, "mx_verify_timeout": 30, "mx_verify_report_path": str(report)})
    assert returncode != 0, output
    assert "3 domains: 2 passed, 1 failed" in output and "1 of 3 domains failed: c.test." in output
    # The summary, not a table per check: no line per passing check.
    assert not re.search(r"OK\s+smtp-dead", output)
    written = json.loads(report.read_text())
    assert [domain["zone"] for domain in written["domains"]] == ["a.test.", "b.test.", "c.test."]
    assert written["domains_ok"] == ["a.test.", "b.test."] and written["ok"] is False
    assert greeters == [LIVE, TRAP]


def test_the_role_still_verifies_one_domain(bind, greeters, tmp_path):
    report = tmp_path / "report.json"
    returncode, output = run_role(tmp_path, {"mx_verify_layout": SHARED, "mx_verify_zone": "a.test", "mx_verify_nameservers": [bind.address],
                                             "mx_verify_port": bind.port, "mx_verify_timeout": 30, "mx_verify_report_path": str(report)})
    assert returncode == 0, output
    assert re.search(r"OK\s+smtp-dead\s+nolist.provider.test. %s" % re.escape(DEAD), output)
    written = json.loads(report.read_text())
    assert written["zone"] == "a.test" and written["ok"] is True and len(written["checks"]) == 7
    assert greeters == [LIVE, TRAP]


def test_the_role_refuses_both_forms_at_once(bind, tmp_path):
    returncode, output = run_role(tmp_path, {"mx_verify_layout": SHARED, "mx_verify_zone": "a.test", "mx_verify_domains": DOMAINS,
                                             "mx_verify_nameservers": [bind.address], "mx_verify_port": bind.port})
    assert returncode != 0 and "parameters are mutually exclusive: zone|domains" in output
