"""The mx_records role publishing through the zonefile, octodns and route53 providers, as a user runs it:
ansible-playbook on the controller, publish, rerun (nothing changed), check mode (nothing written or sent), a change,
state absent. The zone file is read back with named-checkzone, the octoDNS config with PyYAML, the hosted zone from
a moto server on loopback (tests/integration/moto_server.py)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from tests.integration import moto_server

ROOT = pathlib.Path(__file__).resolve().parents[3]
ZONE = "example.test"
LAYOUT = [
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10", "2001:db8:113::10"]},
    {"preference": 20, "host": "mail.example.test", "role": "live", "addresses": ["203.0.113.20"]},
    {"preference": 90, "host": "backstop.example.test", "role": "backstop", "addresses": ["203.0.113.20"]},
]
MX = ["10 nolist.example.test.", "20 mail.example.test.", "90 backstop.example.test."]
ZONE_FILE = """; example.test, kept in git
$TTL 300
@   IN SOA ns.example.test. hostmaster.example.test. ( 7 3600 600 86400 300 )
    IN NS  ns.example.test.
ns  IN A   198.51.100.53
www IN A   198.51.100.80 ; the web server
"""
OCTODNS_FILE = """---
# example.test for octoDNS
'':
  - type: TXT
    value: v=spf1 mx -all
www:
  type: A
  value: 198.51.100.80
"""


def run_role(tmp_path, variables, check=False):
    """The mx_records role on localhost with ``variables``; returns (returncode, output, {task: changed?})."""
    playbook = tmp_path / "publish.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Publish", "hosts": "localhost", "gather_facts": False,
        "roles": [{"role": "mailsec.mx.mx_records"}],
    }]))
    extra = dict({"mx_records_zone": ZONE, "mx_records_layout": LAYOUT, "mx_records_ttl": 300}, **variables)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="default")
    command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
               "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps(extra), str(playbook)]
    if check:
        command += ["--check", "--diff"]
    result = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    recap = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    return result.returncode, output, int(recap.group(1)) if recap else None


def loaded_zone(path):
    """{(name, type): sorted values} as BIND loads the file (named-checkzone -D)."""
    result = subprocess.run(["named-checkzone", "-D", "-o", "-", ZONE, str(path)], capture_output=True, text=True, check=True)
    records = {}
    for line in result.stdout.splitlines():
        fields = line.split(None, 4)
        if len(fields) == 5 and fields[2] == "IN":
            records.setdefault((fields[0], fields[3]), []).append(fields[4])
    return {key: sorted(values) for key, values in records.items()}


def lifecycle(tmp_path, variables, published, untouched):
    """Publish, rerun, check mode change, change, absent; ``published()`` reads what the provider holds."""
    code, output, changed = run_role(tmp_path, variables)
    assert code == 0 and changed == 1, output
    first = published()
    assert sorted(first[ZONE + ".", "MX"]) == MX
    assert first["nolist.example.test.", "AAAA"] == ["2001:db8:113::10"]
    untouched(first)

    code, output, changed = run_role(tmp_path, variables)
    assert code == 0 and changed == 0, output
    assert published() == first

    moved = [dict(entry, addresses=["203.0.113.21"]) if entry["role"] != "dead" else entry for entry in LAYOUT]
    code, output, changed = run_role(tmp_path, dict(variables, mx_records_layout=moved), check=True)
    assert code == 0 and changed == 1, output
    assert "203.0.113.21" in output  # the diff shows the change
    assert published() == first

    code, output, changed = run_role(tmp_path, dict(variables, mx_records_layout=moved))
    assert code == 0 and changed == 1, output
    assert published()["mail.example.test.", "A"] == ["203.0.113.21"]

    code, output, changed = run_role(tmp_path, dict(variables, mx_records_layout=moved, mx_records_state="absent"))
    assert code == 0 and changed == 1, output
    gone = published()
    assert (ZONE + ".", "MX") not in gone and ("nolist.example.test.", "A") not in gone
    untouched(gone)
    return output


def test_zonefile(tmp_path):
    path = tmp_path / "example.test.zone"
    path.write_text(ZONE_FILE)

    def untouched(records):
        assert records["www.example.test.", "A"] == ["198.51.100.80"] and ("ns.example.test.", "A") in records
        text = path.read_text()
        assert text.startswith("; example.test, kept in git\n$TTL 300\n") and "www IN A   198.51.100.80 ; the web server\n" in text

    output = lifecycle(tmp_path, {"mx_records_provider": "zonefile", "mx_records_zone_file": str(path)}, lambda: loaded_zone(path), untouched)
    assert "Nothing is served until your pipeline deploys" in output


def test_octodns(tmp_path):
    path = tmp_path / "example.test.yaml"
    path.write_text(OCTODNS_FILE)

    def published():
        config = yaml.safe_load(path.read_text())
        records = {}
        for name, entries in config.items():
            owner = "%s.%s." % (name, ZONE) if name else ZONE + "."
            for entry in entries if isinstance(entries, list) else [entries]:
                values = entry.get("values", [entry.get("value")])
                if entry["type"] == "MX":
                    values = ["%d %s" % (value["preference"], value["exchange"]) for value in values]
                records[owner, entry["type"]] = sorted(values)
        return records

    def untouched(records):
        assert records["www.example.test.", "A"] == ["198.51.100.80"] and records[ZONE + ".", "TXT"] == ["v=spf1 mx -all"]
        assert path.read_text().startswith("---\n# example.test for octoDNS\n")

    lifecycle(tmp_path, {"mx_records_provider": "octodns", "mx_records_octodns_file": str(path)}, published, untouched)


@pytest.fixture(name="moto")
def fixture_moto(tmp_path):
    server = moto_server.start_moto(tmp_path / "moto")
    try:
        yield server
    finally:
        server.stop()


def test_route53(tmp_path, moto):
    zone_id = moto_server.create_zone(moto, ZONE)
    moto_server.put(moto, zone_id, "www.example.test.", "A", ["198.51.100.80"])
    variables = {"mx_records_provider": "route53", "mx_records_aws_endpoint_url": moto.endpoint_url,
                 "mx_records_aws_access_key": "testing", "mx_records_aws_secret_key": "role-secret-never-shown",
                 "mx_records_aws_region": "us-east-1"}

    def untouched(records):
        assert records["www.example.test.", "A"] == ["198.51.100.80"] and (ZONE + ".", "NS") in records

    output = lifecycle(tmp_path, variables, lambda: moto_server.records(moto, zone_id), untouched)
    assert "role-secret-never-shown" not in output


def test_a_file_provider_without_its_file_stops_before_anything(tmp_path):
    code, output, _changed = run_role(tmp_path, {"mx_records_provider": "zonefile"})
    assert code != 0 and "mx_records_provider=zonefile writes a file: set mx_records_zone_file to its path" in output
