"""The mx_metrics role through ansible-playbook (-c local), in a throwaway namespace with a dead primary loaded.

The role's files go to a temporary tree (its internal __mx_metrics_* paths, given with -e): the script, the cron
entry, the systemd units and node_exporter's textfile directory. This machine runs no systemd, so the systemd
timer is the "enable for the next boot, start nothing" case: a role that tried systemctl here would fail. The units
are checked with systemd-analyze verify; nothing is started on this machine.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from lab import netns
from tests.integration.metrics import metrics_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("nft"), reason="needs root and nftables"),
]

ROOT = metrics_lab.ROOT
PLAYBOOK = [{"name": "Metrics", "hosts": "localhost", "gather_facts": False, "roles": [{"role": "mailsec.mx.mx_metrics"}]}]
UNIT = "mailsec-mx-metrics"


class Site:
    """A temporary tree for the role's files, and ansible-playbook run inside a namespace that holds a dead primary."""

    def __init__(self, tmp_path, namespace):
        self.root = tmp_path
        self.namespace = namespace
        self.script = tmp_path / "sbin" / UNIT
        self.cron = tmp_path / "cron.d" / UNIT
        self.systemd = tmp_path / "systemd"
        self.textfile = tmp_path / "node-exporter"
        self.prom = self.textfile / "mailsec_mx_firewall.prom"
        for directory in (self.script.parent, self.cron.parent, self.systemd / "timers.target.wants"):
            directory.mkdir(parents=True)
        (tmp_path / "play.yml").write_text(yaml.safe_dump(PLAYBOOK))

    def play(self, check=False, status=0, **variables):
        """(output, changed count) of one run of the role with ``variables``."""
        extra = dict({"__mx_metrics_script": str(self.script), "__mx_metrics_cron_file": str(self.cron),
                      "__mx_metrics_systemd_directory": str(self.systemd),
                      "mx_metrics_textfile_directory": str(self.textfile), "mx_metrics_manage_packages": False,
                      "mx_metrics_timer": "cron"}, **variables)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"),
                   ANSIBLE_HOME=str(self.root / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(self.root / "ansible-tmp"),
                   ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_STDOUT_CALLBACK="default")
        command = [str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   "-e", "ansible_python_interpreter=%s" % sys.executable, "-e", json.dumps(extra),
                   str(self.root / "play.yml")]
        if check:
            command += ["--check", "--diff"]
        result = self.namespace.run(command, env=env, cwd=self.root, timeout=600)
        output = result.stdout + result.stderr
        assert result.returncode == status, output
        changed = sum(int(number) for number in re.findall(r"changed=(\d+)", output))
        return output, changed

    def files(self):
        """Every file and link the role may have written, relative to the tree."""
        return sorted(str(path.relative_to(self.root)) for path in self.root.rglob("*")
                      if (path.is_file() or path.is_symlink()) and not str(path.relative_to(self.root)).startswith(
                          ("ansible-", "play.yml")))


@pytest.fixture
def site(tmp_path):
    with netns.Namespace("mxrole", addresses=metrics_lab.DEAD) as namespace:
        request = {"backend": "nftables", "state": "present", "spec": metrics_lab.DEAD_SPEC, "name": "dead_primary"}
        result = namespace.run([sys.executable, str(metrics_lab.DRIVER)], input=json.dumps(request))
        assert result.returncode == 0, result.stderr
        yield Site(tmp_path, namespace)


CRON_FILES = ["cron.d/" + UNIT, "node-exporter/mailsec_mx_firewall.prom", "sbin/" + UNIT]
SYSTEMD_FILES = ["node-exporter/mailsec_mx_firewall.prom", "sbin/" + UNIT, "systemd/%s.service" % UNIT,
                 "systemd/%s.timer" % UNIT, "systemd/timers.target.wants/%s.timer" % UNIT]


def test_cron_install_writes_the_file_at_once_and_a_rerun_changes_nothing(site):
    output, changed = site.play()
    assert changed > 0
    assert site.files() == CRON_FILES
    assert site.script.read_bytes() == b"#!/usr/bin/python3\n" + metrics_lab.EXPORTER.read_bytes()
    assert site.script.stat().st_mode & 0o777 == 0o755
    assert site.cron.read_text().splitlines()[-1] == "*/1 * * * * root %s --directory %s" % (site.script, site.textfile)
    samples = metrics_lab.parse_exposition(site.prom.read_text())
    assert metrics_lab.value(samples, "mailsec_mx_table_up", table="mailsec_dead_primary") == 1
    assert site.play()[1] == 0
    # The cron line, as cron will run it, writes the file too.
    site.prom.unlink()
    line = site.cron.read_text().splitlines()[-1].split(" root ", 1)[1]
    assert site.namespace.run(["sh", "-c", line]).returncode == 0 and site.prom.exists()


def test_check_mode_writes_nothing_and_tells_what_would_change(site):
    output, changed = site.play(check=True)
    assert changed > 0
    assert site.files() == [] and not site.textfile.exists()
    site.play()
    output, changed = site.play(check=True, mx_metrics_interval=5)
    assert changed == 1 and "+*/5 * * * * root" in output and "-*/1 * * * * root" in output
    assert "*/1 * * * *" in site.cron.read_text()


def test_systemd_without_a_running_systemd_enables_for_the_next_boot_and_starts_nothing(site):
    site.play()
    output, changed = site.play(mx_metrics_timer="systemd", mx_metrics_interval=5)
    assert changed > 0
    # The cron entry is gone: one scheduler at a time.
    assert site.files() == SYSTEMD_FILES
    link = site.systemd / "timers.target.wants" / (UNIT + ".timer")
    assert os.readlink(link) == str(site.systemd / (UNIT + ".timer"))
    timer = site.systemd / (UNIT + ".timer")
    assert "OnCalendar=*:0/5\n" in timer.read_text()
    service = (site.systemd / (UNIT + ".service")).read_text()
    assert "ExecStart=%s --directory %s\n" % (site.script, site.textfile) in service
    verified = subprocess.run(["systemd-analyze", "verify", str(timer), str(site.systemd / (UNIT + ".service"))],
                              capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stderr
    calendar = subprocess.run(["systemd-analyze", "calendar", "*:0/5"], capture_output=True, text=True, check=False)
    assert "Normalized form: *-*-* *:00/5:00" in calendar.stdout
    assert re.search(r"TASK \[mailsec\.mx\.mx_metrics : Start the timer and enable it at boot\] \**\nskipping: ", output)
    assert site.play(mx_metrics_timer="systemd", mx_metrics_interval=5)[1] == 0
    # Back to cron: the units and the link go.
    site.play(mx_metrics_timer="cron")
    assert site.files() == CRON_FILES


def test_an_hourly_run_and_auto_picks_cron_without_systemd(site):
    site.play(mx_metrics_timer="auto", mx_metrics_interval=60)
    assert site.cron.read_text().splitlines()[-1].startswith("0 * * * * root ")
    site.play(mx_metrics_timer="systemd", mx_metrics_interval=60)
    assert "OnCalendar=*:00\n" in (site.systemd / (UNIT + ".timer")).read_text()


@pytest.mark.parametrize("timer, installed", [("cron", CRON_FILES), ("systemd", SYSTEMD_FILES)])
def test_absent_removes_everything_it_installed(site, timer, installed):
    site.play(mx_metrics_timer=timer)
    assert site.files() == installed
    assert site.play(check=True, mx_metrics_state="absent", mx_metrics_timer=timer)[1] > 0
    assert site.files() == installed
    output, changed = site.play(mx_metrics_state="absent", mx_metrics_timer=timer)
    assert changed > 0 and site.files() == []
    # node_exporter's directory stays: it is node_exporter's, and the audit writes there too.
    assert site.textfile.is_dir()
    assert site.play(mx_metrics_state="absent", mx_metrics_timer=timer)[1] == 0


@pytest.mark.parametrize("variables, message", [
    ({"mx_metrics_interval": 7}, "mx_metrics_interval"),
    ({"mx_metrics_timer": "anacron"}, "mx_metrics_timer"),
    ({"mx_metrics_textfile_directory": "/var/lib/node exporter"}, "mx_metrics_textfile_directory"),
    ({"mx_metrics_textfile_directory": "relative/dir"}, "an absolute path"),
    ({"mx_metrics_textfile_directory": "/tmp/x%y"}, "an absolute path"),
])
def test_bad_input_is_refused_before_anything_is_touched(site, variables, message):
    output, changed = site.play(status=2, **variables)
    assert message in output
    assert site.files() == []


def test_with_packages_managed_cron_would_be_installed(site):
    """Checked in check mode: this machine has no cron, and the test installs nothing."""
    output, changed = site.play(check=True, mx_metrics_manage_packages=True)
    # apt's own report (diff mode) comes between the task and its result.
    assert re.search(r"TASK \[mailsec\.mx\.mx_metrics : Install cron, which runs the exporter on this host\] \**\n"
                     r"(?:(?!TASK).*\n)*changed: \[localhost\]", output)
    assert site.files() == [] and shutil.which("cron") is None


def test_a_table_that_cannot_be_read_is_shown_and_does_not_stop_the_role(site):
    site.namespace.sh(metrics_lab.IPTABLES_ODD)
    output, changed = site.play()
    assert "chain MAILSEC_SPACE: its rules use ipset(s) mailsec_x, which ipset list -t does not show" in output
    samples = metrics_lab.parse_exposition(site.prom.read_text())
    assert metrics_lab.value(samples, "mailsec_mx_table_up", table="MAILSEC_SPACE") == 0
    assert metrics_lab.value(samples, "mailsec_mx_table_up", table="mailsec_dead_primary") == 1
    assert site.play()[1] == 0
