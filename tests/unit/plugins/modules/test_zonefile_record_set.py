"""The zonefile_record_set module run through main(): options reaching the provider, per-zone paths, messages,
check and diff mode on real files (named-checkzone checks them)."""

import datetime
import shutil

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _zonefile
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import Provider
from ansible_collections.mailsec.mx.plugins.modules import zonefile_record_set
from tests.module_main import run_main

needs_checkzone = pytest.mark.skipif(shutil.which("named-checkzone") is None, reason="named-checkzone is not installed (bind9-utils)")
MAIL_A = {"name": "mail.example.test", "type": "A", "ttl": 300, "values": ["198.51.100.20"]}
MX = {"name": "example.test", "type": "MX", "ttl": 300, "values": ["10 mail.example.test"]}


def zone_text(zone="example.test."):
    return ("$ORIGIN %s\n$TTL 300\n@ IN SOA ns hostmaster 2024010100 3600 600 86400 300 ; the serial\n"
            "  IN NS ns\nns A 192.0.2.53 ; ns\n" % zone)


class FakeProvider(Provider):
    """Records how the module built it; the zone holds nothing."""

    instances = []

    def __init__(self, *args):
        self.args = args
        self.applied = []
        FakeProvider.instances.append(self)

    def read(self, zone, keys):
        return {key: None for key in keys}

    def apply(self, zone, changes, unchanged=()):
        self.applied.append((zone, [change.key for change in changes]))


@pytest.fixture
def fake(monkeypatch):
    FakeProvider.instances = []
    monkeypatch.setattr(zonefile_record_set, "ZoneFileProvider", FakeProvider)
    return FakeProvider


@pytest.fixture(autouse=True)
def fixed_today(monkeypatch):
    monkeypatch.setattr(_zonefile, "utc_today", lambda: datetime.date(2026, 11, 30))


def run(capsys, **args):
    return run_main(zonefile_record_set, capsys, **args)


def test_options_reach_the_provider(fake, capsys):
    result = run(capsys, path="/srv/zones/example.test.zone", checkzone_command="/opt/bind/bin/named-checkzone",
                 include_directory="/etc/bind", zone="example.test", record_sets=[MAIL_A])
    assert result["changed"] is True
    (provider,) = fake.instances
    assert provider.args == ({"example.test.": {"path": "/srv/zones/example.test.zone"}}, "/opt/bind/bin/named-checkzone", "/etc/bind")


def test_each_zone_has_its_own_path(fake, capsys):
    zones = [{"zone": "example.test", "path": "/srv/a.zone", "record_sets": [MAIL_A]},
             {"zone": "other.test", "path": "/srv/b.zone", "record_sets": []}]
    run(capsys, zones=zones)
    assert fake.instances[0].args == ({"example.test.": {"path": "/srv/a.zone"}, "other.test.": {"path": "/srv/b.zone"}}, "named-checkzone", None)


def test_path_beside_zones_is_refused(fake, capsys):
    result = run(capsys, path="/srv/a.zone", zones=[{"zone": "example.test", "path": "/srv/a.zone", "record_sets": []}])
    assert result["failed"] is True
    assert result["msg"] == "path goes into each zones entry ({zone, path, record_sets}), not beside zones; nothing was sent"
    assert fake.instances == []


@pytest.mark.parametrize("args, message", [
    ({"zone": "example.test"}, "zone example.test.: path is required (the zone file of the zone); nothing was sent"),
    ({"zone": "example.test", "path": "/srv/a.zone\n"},
     "path: '/srv/a.zone\\n' contains a control character (U+000A at offset 11); remove it; nothing was sent"),
    ({"zone": "example.test", "path": "/srv/a.zone", "checkzone_command": "named-checkzone\n--"},
     "checkzone_command: 'named-checkzone\\n--' contains a control character (U+000A at offset 15); remove it; nothing was sent"),
    ({"zones": [{"zone": "example.test", "record_sets": [], "paht": "/srv/a.zone"}]},
     "zones[1] has unknown keys paht (known: zone, record_sets, path); nothing was sent"),
    ({"zone": "example.test", "path": "/srv/a.zone", "record_sets": [dict(MAIL_A, values=["198.51.100.20\n"])]},
     "zone example.test: record_sets[1].values[1]: '198.51.100.20\\n' contains a control character (U+000A at offset 13); remove it; nothing was sent"),
], ids=["no-path", "path-newline", "command-newline", "unknown-key", "value-newline"])
def test_bad_input_reads_nothing(capsys, monkeypatch, args, message):
    def no_run(*args, **kwargs):
        raise AssertionError("a command ran")

    monkeypatch.setattr(_zonefile.subprocess, "run", no_run)
    if "zones" not in args:
        args = dict({"record_sets": [MAIL_A]}, **args)
    result = run(capsys, **args)
    assert result["failed"] is True
    assert result["msg"] == message


@needs_checkzone
def test_publish_check_mode_and_diff_on_a_real_file(tmp_path, capsys):
    path = tmp_path / "example.test.zone"
    path.write_text(zone_text())
    args = dict(path=str(path), zone="example.test", record_sets=[MAIL_A, MX])

    result = run(capsys, _ansible_check_mode=True, _ansible_diff=True, **args)
    assert result["changed"] is True
    assert result["diff"]["before_header"] == result["diff"]["after_header"] == str(path)
    assert result["diff"]["before"] == zone_text()
    assert path.read_text() == zone_text()

    result = run(capsys, _ansible_diff=True, **args)
    assert result["changed"] is True
    assert [(change["name"], change["type"]) for change in result["changes"]] == [("mail.example.test.", "A"), ("example.test.", "MX")]
    expected = (zone_text().replace("2024010100", "2026113000").replace("  IN NS ns\n", "  IN NS ns\nexample.test. 300 IN MX 10 mail.example.test.\n")
                + "mail.example.test. 300 IN A 198.51.100.20\n")
    assert path.read_text() == expected == result["diff"]["after"]

    result = run(capsys, **args)
    assert (result["changed"], result["changes"]) == (False, [])
    assert path.read_text() == expected


@needs_checkzone
def test_many_zones_one_file_each(tmp_path, capsys):
    paths = {zone: tmp_path / ("%s.zone" % zone) for zone in ("example.test", "other.test")}
    for zone, path in paths.items():
        path.write_text(zone_text(zone + "."))
    zones = [{"zone": zone, "path": str(path), "record_sets": [dict(MAIL_A, name="mail." + zone)]} for zone, path in paths.items()]
    result = run(capsys, zones=zones)
    assert [(entry["zone"], entry["changed"]) for entry in result["zones"]] == [("example.test.", True), ("other.test.", True)]
    for zone, path in paths.items():
        assert path.read_text().endswith("mail.%s. 300 IN A 198.51.100.20\n" % zone)
    assert run(capsys, zones=zones)["changed"] is False


@needs_checkzone
def test_a_provider_error_is_a_clean_failure(tmp_path, capsys):
    result = run(capsys, path=str(tmp_path / "missing.zone"), zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == ("zone example.test.: the zone file %s does not exist; create it first (with its SOA and NS records)"
                             % (tmp_path / "missing.zone"))


def test_a_missing_checker_names_the_packages(tmp_path, capsys):
    result = run(capsys, path=str(tmp_path / "a.zone"), checkzone_command=str(tmp_path / "named-checkzone"), zone="example.test", record_sets=[MAIL_A])
    assert result["failed"] is True
    assert result["msg"] == ("checkzone_command %s: not found or not executable; install bind9-utils (Debian, Ubuntu) or bind-utils "
                             "(RHEL, Fedora), or give its path; nothing was sent" % (tmp_path / "named-checkzone"))
