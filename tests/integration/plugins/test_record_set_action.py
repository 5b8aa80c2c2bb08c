"""The record-set action plugins (plugin_utils/_record_set_action.py): on the controller the module runs inside
Ansible's process - progress lines while it runs, the same checks and the same result as the module - and anywhere
else (here: a task environment, which only a module's process gets) it runs as a module. Real ansible-playbook, real
BIND (tests/integration/dns/servers.py), the many-domain form with a shared layout and one zone BIND refuses."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from tests.integration.dns import servers

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = pathlib.Path(sys.executable).parent
ZONES = ["d%02d.fleet.test." % number for number in range(1, 1202)]
REFUSED = "d03.fleet.test."
LAYOUT = [
    {"preference": 10, "host": "nolist.mx.fleet.test", "role": "dead", "addresses": ["203.0.113.10"]},
    {"preference": 20, "host": "mail.mx.fleet.test", "addresses": ["203.0.113.20"]},
]


@pytest.fixture(name="bind")
def fixture_bind(tmp_path):
    # BIND serves every zone but REFUSED, so it answers the queries for that one with REFUSED: its failure is its own.
    server = servers.start_bind(tmp_path / "bind", [zone for zone in ZONES if zone != REFUSED])
    yield server
    server.stop()


def run(tmp_path, bind, task_extra=None, options=None, check=False):
    task = {"name": "Publish every domain", "register": "published",
            "mailsec.mx.rfc2136_record_set": dict({
                "server": bind.address, "port": bind.port, "key_name": bind.key_name, "key_secret": bind.key_secret,
                "layout": LAYOUT, "domains": [{"zone": zone} for zone in ZONES]}, **(options or {})),
            "ignore_errors": True}
    task.update(task_extra or {})
    keep = {"name": "Keep the result", "check_mode": False, "ansible.builtin.copy": {
        "content": "{{ published | to_json }}", "dest": str(tmp_path / "result.json"), "mode": "0600"}}
    play = [{"name": "Publish", "hosts": "localhost", "gather_facts": False, "tasks": [task, keep]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_STDOUT_CALLBACK="default")
    argv = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(tmp_path / "play.yml")] + (["--check"] if check else [])
    output = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    assert output.returncode == 0, output.stdout[-3000:] + output.stderr[-2000:]
    return output.stdout, json.loads((tmp_path / "result.json").read_text(encoding="utf-8"))


def published(bind):
    return {zone: bind.query(zone, "MX") for zone in (ZONES[0], ZONES[-1])}


def test_on_the_controller_the_module_runs_in_process_with_progress_and_per_zone_failures(tmp_path, bind):
    output, result = run(tmp_path, bind)
    # Progress lines while the task runs (only the in-process run shows them before the task's own line).
    assert "localhost: 1,000 of 1,201 zones done: 999 changed, 1 failed" in output
    assert output.index("1,201 of 1,201 zones done") < output.index("fatal: [localhost]")
    assert result["failed"] is True and result["failed_zones"] == [REFUSED]
    assert result["msg"] == ("1 of 1,201 zones failed (the others were published): %s: the query for %s MX got REFUSED"
                             % (REFUSED, REFUSED)).replace("1,201", "1201")
    assert bind.key_secret not in json.dumps(result) and bind.key_secret not in output
    assert published(bind) == {ZONES[0]: {"10 nolist.mx.fleet.test.", "20 mail.mx.fleet.test."},
                               ZONES[-1]: {"10 nolist.mx.fleet.test.", "20 mail.mx.fleet.test."}}
    assert "diff" not in result  # not in diff mode: no 1,200-zone diff
    # A rerun changes nothing; the refused zone still fails alone.
    output, again = run(tmp_path, bind)
    assert again["changed"] is False and again["failed_zones"] == [REFUSED]
    assert "1,201 of 1,201 zones done: 0 changed, 1 failed" in output


def test_as_a_module_the_result_is_the_same(tmp_path, bind):
    run(tmp_path, bind)
    in_process = json.loads((tmp_path / "result.json").read_text())
    # A task environment reaches a module's process only: the action plugin runs the module then.
    output, as_module = run(tmp_path, bind, {"environment": {"MAILSEC_TEST": "1"}})
    assert "localhost: 1,000 of 1,201 zones done" not in output
    assert as_module["failed_zones"] == in_process["failed_zones"] == [REFUSED]
    assert as_module["progress"][-1] == "1,201 of 1,201 zones done: 0 changed, 1 failed"


def test_bad_options_are_named_and_nothing_is_sent(tmp_path, bind):
    dummy, result = run(tmp_path, bind, options={"zone": ZONES[0]})
    assert result["failed"] is True
    assert result["msg"] == "give either domains, zones, or zone with record_sets, not two of them; nothing was sent"
    dummy, result = run(tmp_path, bind, options={"port": "fifty-three"})
    assert result["failed"] is True and "port" in result["msg"]
    assert published(bind)[ZONES[0]] == set()


def test_check_mode_sends_nothing(tmp_path, bind):
    output, result = run(tmp_path, bind, check=True)
    assert result["changed"] is True and result["failed_zones"] == [REFUSED]
    assert published(bind)[ZONES[0]] == set()
