"""octodns_record_set, run through main() in-process, checked with the real octoDNS: what its YamlProvider loads
from the file the module wrote, and what ``octodns-sync`` plans from that config into a target it can reach here -
BIND 9 on 127.0.0.1 through octodns-bind's Rfc2136Provider (TSIG), and another YamlProvider directory.

Every step compares all records octoDNS sees with what they were, so a record that is not ours and moved
fails the test; the plan must list exactly our changes."""

import json
import os
import pathlib
import random
import shutil
import subprocess
import sys

import pytest
from octodns.provider.yaml import YamlProvider
from octodns.zone import Zone

from ansible_collections.mailsec.mx.plugins.module_utils import _octodns
from ansible_collections.mailsec.mx.plugins.module_utils._octodns import Document, OctodnsProvider, natural_key
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import converge_zone, parse_record_sets
from ansible_collections.mailsec.mx.plugins.modules import octodns_record_set
from tests.integration.dns import servers
from tests.module_main import run_main

ROOT = pathlib.Path(__file__).resolve().parents[4]
ZONE = "example.test."
SYNC_TIMEOUT = 120  # a deadline for a hung octodns-sync, not a speed check

# The zone as its owner keeps it: records that are not ours, comments, a name (mail) where we add a type.
# The apex NS and ns's A are what the test BIND serves (servers.py), so syncing into it plans no root NS change.
CONFIG = """\
---
# example.test, kept in git and pushed by octodns-sync

'':
  - ttl: 300
    type: NS
    value: ns.example.test.
  # SPF: only the MX hosts send
  - ttl: 300
    type: TXT
    value: v=spf1 mx -all
_dmarc:
  ttl: 300
  type: TXT
  value: v=DMARC1\\; p=reject
mail:
  ttl: 300
  type: AAAA
  value: 2001:db8::20
ns:
  ttl: 300
  type: A
  value: 203.0.113.53

www:  # the web site lives on the mail host
  type: CNAME
  value: mail.example.test.
"""


def layout(mail="203.0.113.20", second="20 mail.example.test"):
    return [
        {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 nolist.example.test", second]},
        {"name": "nolist.example.test", "type": "A", "ttl": 300, "values": ["203.0.113.10"]},
        {"name": "nolist.example.test", "type": "AAAA", "ttl": 300, "values": ["2001:db8::10"]},
        {"name": "mail.example.test", "type": "A", "ttl": 300, "values": [mail]},
    ]


OURS = {("", "MX"), ("nolist", "A"), ("nolist", "AAAA"), ("mail", "A")}


def octodns_sees(directory):
    """{(name, type): (ttl, values)} as octoDNS's YamlProvider loads the zone from ``directory`` (order enforced)."""
    zone = Zone(ZONE, [])
    YamlProvider("config", str(directory), enforce_order=True, escaped_semicolons=True).populate(zone)
    found = {}
    for record in zone.records:
        rrset = record.to_rrset()
        found[(record.name, rrset._type)] = (rrset.ttl, sorted(rrset.rdatas))  # pylint: disable=protected-access
    return found


def expected_records(record_sets):
    """What octoDNS shows for our record sets: relative names, values as RDATA text (MX 'preference exchange.')."""
    found = {}
    for record_set in record_sets:
        name = _octodns.relative_name(record_set["name"] + ".", ZONE)
        values = [value + "." if record_set["type"] == "MX" else value for value in record_set["values"]]
        found[(name, record_set["type"])] = (record_set["ttl"], sorted(values))
    return found


def other_entries(text):
    """The text of every top-level entry that is not ours, as written."""
    document = Document(text, "config")
    return {entry.name: text[entry.start:entry.end] for entry in document.entries if entry.name not in {"", "mail", "nolist"}}


class Pipeline:
    """A user's octoDNS setup: config/<zone>.yaml as the source, synced with octodns-sync into one target."""

    def __init__(self, tmp_path, target):
        self.config = tmp_path / "config"
        self.config.mkdir()
        self.path = self.config / "example.test.yaml"
        self.path.write_text(CONFIG)
        self.plan_file = tmp_path / "plan.json"
        self.target = target
        self.server = None
        if target == "bind":
            reason = servers.missing("bind")
            if reason:
                pytest.skip(reason)
            self.server = servers.start_bind(tmp_path / "bind", [ZONE])
            target_config = {"class": "octodns_bind.Rfc2136Provider", "host": self.server.address, "port": self.server.port,
                             "key_name": self.server.key_name, "key_secret": self.server.key_secret,
                             "key_algorithm": self.server.key_algorithm}
        else:
            (tmp_path / "published").mkdir()
            target_config = {"class": "octodns.provider.yaml.YamlProvider", "directory": str(tmp_path / "published"),
                             "escaped_semicolons": True}
        # Removing our 4 of the zone's 10 records is more than octoDNS's default safety threshold (30 %) lets through.
        target_config["delete_pcent_threshold"] = 0.5
        settings = {
            "manager": {"plan_outputs": {"json": {"class": "octodns.provider.plan.PlanJson", "output_filename": str(self.plan_file)}}},
            "providers": {"config": {"class": "octodns.provider.yaml.YamlProvider", "directory": str(self.config),
                                     "escaped_semicolons": True},
                          "target": target_config},
            "zones": {ZONE: {"sources": ["config"], "targets": ["target"]}},
        }
        self.settings = tmp_path / "octodns.yaml"
        self.settings.write_text(json.dumps(settings))  # JSON is YAML

    def sync(self, doit=False):
        """Run octodns-sync (a dry run unless ``doit``); return the plan: {(change type, name, record type)}."""
        command = [str(pathlib.Path(sys.executable).parent / "octodns-sync"), "--config-file", str(self.settings)]
        self.plan_file.unlink(missing_ok=True)
        result = subprocess.run(command + (["--doit"] if doit else []), capture_output=True, text=True, timeout=SYNC_TIMEOUT, check=False)
        assert result.returncode == 0, result.stderr[-3000:]
        plans = json.loads(self.plan_file.read_text())
        changes = plans.get("target", {}).get(ZONE, {}).get("changes", [])
        return {(change["type"], change["name"], change["record_type"]) for change in changes}

    def stop(self):
        if self.server is not None:
            self.server.stop()


@pytest.fixture(name="pipeline", params=["bind", "yaml"])
def fixture_pipeline(request, tmp_path):
    """The same config synced into BIND (ids bind) and into another YamlProvider directory (ids yaml)."""
    pipeline = Pipeline(tmp_path, request.param)
    try:
        yield pipeline
    finally:
        pipeline.stop()
        if pipeline.server is not None:  # shown by pytest only when the test failed
            print("--- last lines of the BIND log ---\n%s" % pipeline.server.log_tail())


def run(capsys, pipeline, **args):
    return run_main(octodns_record_set, capsys, path=str(pipeline.path), zone="example.test", **args)


def test_lifecycle_loaded_by_octodns_and_planned_by_octodns_sync(pipeline, capsys):
    others = octodns_sees(pipeline.config)
    assert pipeline.sync(doit=True)  # the target now holds the zone as its owner keeps it
    assert pipeline.sync() == set()

    # publish
    result = run(capsys, pipeline, record_sets=layout())
    assert result["changed"] is True, result
    assert octodns_sees(pipeline.config) == {**others, **expected_records(layout())}
    assert other_entries(pipeline.path.read_text()) == other_entries(CONFIG)
    assert pipeline.sync() == {("create", name, rtype) for name, rtype in OURS}
    assert pipeline.sync(doit=True) and pipeline.sync() == set()
    if pipeline.server is not None:
        assert pipeline.server.query(ZONE, "MX") == {"10 nolist.example.test.", "20 mail.example.test."}
        assert pipeline.server.query("mail.example.test.", "AAAA") == {"2001:db8::20"}

    # a rerun leaves the file as it is, not even rewritten
    published = pipeline.path.read_bytes()
    inode = os.stat(pipeline.path).st_ino
    result = run(capsys, pipeline, record_sets=layout())
    assert (result["changed"], result["changes"]) == (False, [])
    assert pipeline.path.read_bytes() == published and os.stat(pipeline.path).st_ino == inode

    # check mode: reported, validated, nothing written
    result = run(capsys, pipeline, record_sets=layout(mail="203.0.113.99"), _ansible_check_mode=True)
    assert result["changed"] is True
    assert pipeline.path.read_bytes() == published

    # a change, with the file's diff
    second = layout(mail="203.0.113.21", second="30 backstop.example.net")
    result = run(capsys, pipeline, record_sets=second, _ansible_diff=True)
    assert result["changed"] is True
    assert result["diff"]["before"] == published.decode() and result["diff"]["after"] == pipeline.path.read_text()
    assert result["diff"]["before_header"] == result["diff"]["after_header"] == str(pipeline.path)
    assert octodns_sees(pipeline.config) == {**others, **expected_records(second)}
    assert other_entries(pipeline.path.read_text()) == other_entries(CONFIG)
    assert pipeline.sync() == {("update", "", "MX"), ("update", "mail", "A")}

    # absent: back to the owner's records exactly, and octoDNS plans to delete ours
    result = run(capsys, pipeline, record_sets=second, state="absent")
    assert result["changed"] is True
    assert octodns_sees(pipeline.config) == others
    assert pipeline.path.read_text() == CONFIG
    assert pipeline.sync() == {("delete", name, rtype) for name, rtype in OURS}

    result = run(capsys, pipeline, record_sets=second, state="absent")
    assert result["changed"] is False


# --- many shapes of configs, each loaded by octoDNS before and after -------------------------------------------

def random_record(rng, rtype, indent, seq):
    """One record's lines (relative to its first key), or a one-line flow mapping, in octoDNS's key order."""
    values = {"A": ["198.51.100.%d" % number for number in range(1, rng.randint(2, 3))], "AAAA": ["2001:db8::%d" % rng.randint(1, 9)],
              "TXT": ["v=spf1 -all"], "NS": ["ns%d.example.test." % number for number in range(1, rng.randint(2, 3))]}.get(rtype)
    ttl = rng.choice([[], ["ttl: 60"], ["ttl: 300"]])
    if rng.random() < 0.25:
        value = "value: {exchange: mx.example.test., preference: 10}" if rtype == "MX" else "values: [%s]" % ", ".join(values)
        return ["{%s}" % ", ".join(ttl + ["type: %s" % rtype, value])]
    if rtype == "MX":
        body = ["value:", " " * indent + "exchange: mx.example.test.", " " * indent + "preference: 10"]
    elif len(values) == 1 and rng.random() < 0.5:
        body = ["value: %s" % values[0]]
    else:
        body = ["values:"] + [" " * seq + "- " + value for value in values]
    return ttl + ["type: %s" % rtype] + body + (["# a comment"] if rng.random() < 0.2 else [])


def random_config(rng):
    """A config as people write them: names in order, one record or a list, flow or block, indented by 2 or 4,
    lists indented or not, comments and blank lines, LF or CRLF, with or without '---'."""
    indent = rng.choice([2, 4])
    seq = rng.choice([0, indent])
    lines = ["---"] if rng.random() < 0.7 else []
    for name in sorted(rng.sample(["", "*", "mail", "mail2", "mail10", "nolist", "www", "a1", "zz"], rng.randint(0, 6)), key=natural_key):
        lines += [""] * (rng.random() < 0.3) + ["# about %r" % name] * (rng.random() < 0.3)
        key = "'%s'" % name if name in ("", "*") else name
        types = rng.sample(["A", "AAAA", "MX", "NS", "TXT"], rng.randint(1, 3))
        if len(types) == 1 and rng.random() < 0.6:
            record = random_record(rng, types[0], indent, seq)
            if record[0].startswith("{") and rng.random() < 0.5:
                lines.append("%s: %s" % (key, record[0]))
            else:
                lines += [key + ":"] + [" " * indent + line for line in record]
            continue
        lines.append(key + ":")
        for rtype in types:
            record = random_record(rng, rtype, indent, seq)
            lines += [" " * seq + "- " + record[0]] + [" " * (seq + 2) + line for line in record[1:]]
    newline = "\r\n" if rng.random() < 0.15 else "\n"
    return newline.join(lines) + newline if lines else rng.choice(["", "--- {}\n", "---\n"])


def random_record_sets(rng):
    record_sets = []
    for name in rng.sample(["", "*", "mail", "mail3", "nolist", "www", "zz"], rng.randint(1, 4)):
        for rtype in rng.sample(["A", "AAAA", "MX"], rng.randint(1, 2)):
            values = {"A": ["203.0.113.%d" % rng.randint(1, 3)], "AAAA": ["2001:db8::%d" % rng.randint(1, 3), "1:2:3:4:5:6:7:8"][:rng.randint(1, 2)],
                      "MX": ["%d mx%d.example.test" % (rng.randint(0, 20), number) for number in range(rng.randint(1, 3))]}[rtype]
            record_sets.append({"name": (name + "." if name else "") + "example.test", "type": rtype, "ttl": rng.choice([300, 3600]),
                                "values": values})
    return record_sets


def test_many_shapes_of_configs_load_in_octodns(tmp_path):
    """Seeded (deterministic) configs and record sets: octoDNS sees exactly the records it saw, ours as wanted;
    removing ours gives back what it saw at first."""
    path = tmp_path / "example.test.yaml"
    for seed in range(200):
        rng = random.Random(seed)
        text = random_config(rng)
        path.write_bytes(text.encode())
        before = octodns_sees(tmp_path)
        record_sets = random_record_sets(rng)
        zone, wanted = parse_record_sets(record_sets, ZONE)
        converge_zone(OctodnsProvider({zone: {"path": str(path)}}), zone, wanted, "present", False)
        ours = expected_records(record_sets)
        assert octodns_sees(tmp_path) == {**{key: found for key, found in before.items() if key not in ours}, **ours}, (seed, text)
        converge_zone(OctodnsProvider({zone: {"path": str(path)}}), zone, wanted, "absent", False)
        assert octodns_sees(tmp_path) == {key: found for key, found in before.items() if key not in ours}, (seed, text)


def test_a_file_edited_between_read_and_write_is_not_overwritten(tmp_path, capsys, monkeypatch):
    path = tmp_path / "example.test.yaml"
    path.write_text(CONFIG)
    edited = CONFIG + "added:\n  type: A\n  value: 203.0.113.7\n"
    real_validate = OctodnsProvider.validate

    def validate_while_someone_saves(self, zone, file_path, text):
        path.write_text(edited)  # an editor or a git pull, after our last read
        return real_validate(self, zone, file_path, text)

    monkeypatch.setattr(OctodnsProvider, "validate", validate_while_someone_saves)
    result = run_main(octodns_record_set, capsys, path=str(path), zone="example.test", record_sets=layout())
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: someone changed the octoDNS config %s since it was read; nothing was changed, run again" % path
    assert path.read_text() == edited
    assert sorted(os.listdir(tmp_path)) == ["example.test.yaml"]


def test_our_records_changed_since_the_plan_fail_the_run(tmp_path, capsys, monkeypatch):
    path = tmp_path / "example.test.yaml"
    path.write_text(CONFIG)
    edited = CONFIG.replace("mail:\n  ttl: 300\n  type: AAAA", "mail:\n  - ttl: 60\n    type: A\n    value: 203.0.113.66\n  - ttl: 300\n    type: AAAA")
    edited = edited.replace("  value: 2001:db8::20\n", "    value: 2001:db8::20\n")
    real_parse = OctodnsProvider.parse

    def parse_then_someone_edits(self, zone, text, keys):
        found = real_parse(self, zone, text, keys)
        if path.read_text() == CONFIG:
            path.write_text(edited)  # between the plan and the fresh read before writing
        return found

    monkeypatch.setattr(OctodnsProvider, "parse", parse_then_someone_edits)
    result = run_main(octodns_record_set, capsys, path=str(path), zone="example.test", record_sets=layout())
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: someone changed mail.example.test. A since it was read; nothing was changed, run again"
    assert path.read_text() == edited


def test_a_missing_file_fails_and_creates_nothing(tmp_path, capsys):
    path = tmp_path / "config" / "example.test.yaml"
    result = run_main(octodns_record_set, capsys, path=str(path), zone="example.test", record_sets=layout())
    assert result["failed"] is True
    assert result["msg"].startswith("zone example.test.: the octoDNS config %s does not exist" % path)
    assert not path.parent.exists()


DRIVER = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from ansible.module_utils.testing import patch_module_args
from ansible_collections.mailsec.mx.plugins.modules import octodns_record_set
with patch_module_args(json.loads(sys.argv[3])):
    try:
        octodns_record_set.main()
    except SystemExit:
        pass
"""


def test_an_unwritable_directory_fails_and_changes_nothing(tmp_path):
    """The config's directory mounted read-only in a private mount namespace (root ignores file modes)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare for a read-only bind mount")
    directory = tmp_path / "config"
    directory.mkdir()
    path = directory / "example.test.yaml"
    path.write_text(CONFIG)
    args = {"path": str(path), "zone": "example.test", "record_sets": layout()}
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(directory),
               sys.executable, "-c", DRIVER, str(ROOT / ".cache" / "collections"), str(ROOT), json.dumps(args)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=SYNC_TIMEOUT, check=False)
    if "mount" in completed.stderr and not completed.stdout:
        pytest.skip("no private mount namespace here: %s" % completed.stderr.strip())
    result = json.loads(completed.stdout)
    assert result["failed"] is True
    assert result["msg"] == ("zone example.test.: cannot write the octoDNS config %s: Read-only file system; nothing was changed" % path)
    assert path.read_text() == CONFIG
    assert os.listdir(directory) == ["example.test.yaml"]
