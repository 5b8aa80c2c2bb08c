"""The action group mailsec.mx.record_sets (meta/runtime.yml): module defaults set once for the group reach the
record-set modules and no other module. A real playbook publishes into a real BIND (tests/integration/dns/servers.py)
with the server, port and TSIG key given only through module_defaults."""

import os
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from tests.integration.dns import servers

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
ZONE = "example.test."
RECORD_SETS = [
    {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["203.0.113.20"]},
    {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 mail.example.test"]},
]


def test_the_group_lists_every_record_set_module_and_nothing_else():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())
    modules = sorted(path.stem for path in (ROOT / "plugins" / "modules").glob("*_record_set.py"))
    assert len(modules) >= 5
    assert sorted(runtime["action_groups"]["record_sets"]) == modules


@pytest.fixture(name="bind")
def fixture_bind(tmp_path):
    server = servers.start_bind(tmp_path / "bind", [ZONE])
    yield server
    server.stop()


def playbook(bind):
    """Publish with the connection set only for the group; probe with smtp_probe (not in the group) without a port."""
    return [{
        "name": "Publish with the connection set once for the record-set modules",
        "hosts": "localhost",
        "gather_facts": False,
        "module_defaults": {"group/mailsec.mx.record_sets": {
            "server": bind.address, "port": bind.port, "key_name": bind.key_name, "key_secret": bind.key_secret,
            "key_algorithm": bind.key_algorithm}},
        "tasks": [
            {"name": "Publish the MX RRset and its target", "register": "published",
             "mailsec.mx.rfc2136_record_set": {"zone": ZONE, "record_sets": RECORD_SETS}},
            # Its own default port is 25; the group's port (BIND's) must not reach it. 127.0.0.1 answers at once,
            # with a greeting or a reset: the outcome does not matter here, only the port it went to.
            {"name": "Probe with a module outside the group", "register": "probed",
             "mailsec.mx.smtp_probe": {"addresses": ["127.0.0.1"], "timeout": 5}},
            {"name": "Check that the probe kept its own port", "ansible.builtin.assert": {
                "that": "probed.results | map(attribute='port') | list == [25]",
                "fail_msg": "smtp_probe went to {{ probed.results | map(attribute='port') | list }}, not its default 25"}},
        ],
    }]


def run(tmp_path, plays):
    """ansible-playbook on localhost as a user runs it (-v, so that the output shows results); (code, output, changed)."""
    path = tmp_path / "playbook.yml"
    path.write_text(yaml.safe_dump(plays, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_HOME=str(tmp_path / "home"),
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_STDOUT_CALLBACK="default")
    env.pop("MAILSEC_TSIG_SECRET", None)  # the secret comes from module_defaults only
    result = subprocess.run([str(BIN / "ansible-playbook"), "-v", "-i", "localhost,", "-c", "local",
                             "-e", "ansible_python_interpreter=%s" % sys.executable, str(path)],
                            env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False)
    output = result.stdout + result.stderr
    recap = re.search(r"localhost\s+:\s+ok=\d+\s+changed=(\d+)", output)
    return result.returncode, output, int(recap.group(1)) if recap else None


def test_module_defaults_of_the_group_publish_into_bind_and_stay_out_of_other_modules(tmp_path, bind):
    code, output, changed = run(tmp_path, playbook(bind))
    assert code == 0 and changed == 1, output
    assert "All assertions passed" in output
    assert bind.query(ZONE, "MX") == {"10 mail.example.test."}
    assert bind.query("mail." + ZONE, "A") == {"203.0.113.20"}
    assert bind.key_secret not in output

    code, output, changed = run(tmp_path, playbook(bind))
    assert code == 0 and changed == 0, output


def test_without_the_group_defaults_the_module_misses_its_server(tmp_path, bind):
    plays = playbook(bind)
    del plays[0]["module_defaults"]
    code, output, _changed = run(tmp_path, plays)
    assert code != 0 and "missing required arguments: server" in output, output
    assert bind.query(ZONE, "MX") == set()
