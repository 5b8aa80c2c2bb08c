"""The octodns_record_set module run through main() on files in tmp_path: options, per-zone paths, check and diff mode."""

import pytest

from ansible_collections.mailsec.mx.plugins.modules import octodns_record_set
from tests.module_main import run_main

CONFIG = "---\n'':\n  ttl: 300\n  type: NS\n  value: ns.example.test.\nwww:\n  type: A\n  value: 203.0.113.80\n"
MX = {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 mail.example.test"]}
MAIL_A = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["203.0.113.20"]}
PUBLISHED = ("---\n'':\n  - ttl: 300\n    type: MX\n    value:\n      exchange: mail.example.test.\n      preference: 10\n"
             "  - ttl: 300\n    type: NS\n    value: ns.example.test.\n"
             "mail:\n  ttl: 300\n  type: A\n  value: 203.0.113.20\n"
             "www:\n  type: A\n  value: 203.0.113.80\n")


def config(tmp_path, name="example.test.yaml", text=CONFIG):
    path = tmp_path / name
    path.write_text(text)
    return path


def run(capsys, **args):
    return run_main(octodns_record_set, capsys, **args)


def test_publish_rerun_and_remove(tmp_path, capsys):
    path = config(tmp_path)
    result = run(capsys, path=str(path), zone="example.test", record_sets=[MX, MAIL_A])
    assert result["changed"] is True
    assert [(change["name"], change["type"]) for change in result["changes"]] == [("mail.example.test.", "A"), ("example.test.", "MX")]
    assert path.read_text() == PUBLISHED

    result = run(capsys, path=str(path), zone="example.test", record_sets=[MX, MAIL_A])
    assert (result["changed"], result["changes"]) == (False, [])

    result = run(capsys, path=str(path), zone="example.test", record_sets=[MX, MAIL_A], state="absent")
    assert result["changed"] is True and all(change["after"] is None for change in result["changes"])
    assert path.read_text() == CONFIG


def test_check_and_diff_mode(tmp_path, capsys):
    path = config(tmp_path)
    result = run(capsys, path=str(path), zone="example.test", record_sets=[MX, MAIL_A], _ansible_check_mode=True, _ansible_diff=True)
    assert result["changed"] is True
    assert result["diff"] == {"before": CONFIG, "after": PUBLISHED, "before_header": str(path), "after_header": str(path)}
    assert path.read_text() == CONFIG


def test_relative_names(tmp_path, capsys):
    path = config(tmp_path)
    result = run(capsys, path=str(path), zone="example.test", relative_names=True,
                 record_sets=[dict(MX, name="@", values=["10 mail"]), dict(MAIL_A, name="mail")])
    assert result["changed"] is True and path.read_text() == PUBLISHED


def test_zones_each_with_its_own_path(tmp_path, capsys):
    first, second = config(tmp_path), config(tmp_path, "other.test.yaml", "--- {}\n")
    result = run(capsys, zones=[
        {"zone": "example.test", "path": str(first), "record_sets": [MX, MAIL_A]},
        {"zone": "other.test", "path": str(second), "record_sets": [dict(MX, name="other.test")]},
    ], _ansible_diff=True)
    assert result["changed"] is True and [zone["zone"] for zone in result["zones"]] == ["example.test.", "other.test."]
    assert first.read_text() == PUBLISHED
    assert second.read_text() == "---\n'':\n  ttl: 300\n  type: MX\n  value:\n    exchange: mail.example.test.\n    preference: 10\n"
    assert [diff["before_header"] for diff in result["diff"]] == [str(first), str(second)]


@pytest.mark.parametrize("args, message", [
    (dict(zone="example.test", record_sets=[MX]), "zone example.test.: path is required (the octoDNS config of the zone); nothing was sent"),
    (dict(zones=[{"zone": "example.test", "file": "x.yaml", "record_sets": [MX]}]),
     "zones[1] has unknown keys file (known: zone, record_sets, path); nothing was sent"),
    (dict(zone="example.test", path="/tmp/x.yaml\nrm -rf /", record_sets=[MX]),
     "path: '/tmp/x.yaml\\nrm -rf /' contains a control character (U+000A at offset 11); remove it; nothing was sent"),
    (dict(zone="example.test", path="{path}", record_sets=[dict(MX, values=["10 mail.example.test\n  octodns: {}"])]),
     "zone example.test: record_sets[1].values[1]: '10 mail.example.test\\n  octodns: {}' contains a control character"),
    (dict(zones=[{"zone": "example.test", "path": "{path}", "record_sets": [MX]},
                 {"zone": "other.test", "path": "{path}", "record_sets": [dict(MX, name="other.test")]}]),
     "zones example.test. and other.test. have the same path {path}; octoDNS reads one file per zone; nothing was sent"),
], ids=["no-path", "unknown-zone-key", "hostile-path", "hostile-value", "shared-path"])
def test_bad_options_change_nothing(tmp_path, capsys, args, message):
    path = config(tmp_path)
    args = {key: value.replace("{path}", str(path)) if isinstance(value, str) else value for key, value in args.items()}
    if "zones" in args:
        args["zones"] = [{key: value.replace("{path}", str(path)) if key == "path" else value for key, value in zone.items()}
                         for zone in args["zones"]]
    result = run(capsys, **args)
    assert result["failed"] is True
    assert message.replace("{path}", str(path)) in result["msg"]
    assert path.read_text() == CONFIG


def test_a_file_problem_names_the_zone_and_the_file(tmp_path, capsys):
    missing = tmp_path / "missing.yaml"
    result = run(capsys, path=str(missing), zone="example.test", record_sets=[MX])
    assert result["failed"] is True
    assert result["msg"] == "zone example.test.: the octoDNS config %s does not exist; create it first (with --- {} for a zone with no records yet)" % missing
    assert not missing.exists()


def test_a_refused_file_is_a_clean_failure(tmp_path, capsys):
    path = config(tmp_path, text=CONFIG + "mail:\n  octodns: {ignored: true}\n  type: A\n  value: 203.0.113.9\n")
    result = run(capsys, path=str(path), zone="example.test", record_sets=[MX, MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == ("zone example.test.: %s line 10: mail.example.test. A carries octoDNS metadata (octodns); this module "
                             "would drop it - remove it or manage this record by hand" % path)
    assert [zone["zone"] for zone in result["zones"]] == ["example.test."] and result["zones"][0]["failed"] is True
    assert result["changed"] is False and result["failed_zones"] == ["example.test."]


def test_without_pyyaml(tmp_path, capsys, monkeypatch):
    path = config(tmp_path)
    monkeypatch.setattr(octodns_record_set, "HAS_YAML", False)
    result = run(capsys, path=str(path), zone="example.test", record_sets=[MX])
    assert result["failed"] is True and "PyYAML" in result["msg"]
    assert path.read_text() == CONFIG
