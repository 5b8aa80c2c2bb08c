"""The built collection installs, documents its filters and runs them by FQCN."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
FILTERS = ["mx_problems", "mx_ordered", "mx_rdata"]


def run(*command, env=None, cwd=None):
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    assert result.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(command), result.stdout, result.stderr)
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    target = tmp_path_factory.mktemp("collections")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(target), ANSIBLE_HOME=str(target / ".ansible"))
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(build), str(ROOT), env=env)
    tarballs = list(build.glob("mailsec-mx-*.tar.gz"))
    assert len(tarballs) == 1
    run(str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(target), str(tarballs[0]), env=env)
    assert (target / "ansible_collections" / "mailsec" / "mx" / "MANIFEST.json").is_file()
    return env


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_shows_filter_docs(installed, name):
    out = run(str(BIN / "ansible-doc"), "-t", "filter", "mailsec.mx." + name, env=installed)
    assert "mailsec.mx." + name in out
    for section in ("EXAMPLES", "RETURN VALUES", "address_limit", "allow_multiple_dead"):
        assert section in out


@pytest.mark.parametrize("name", ["mx_targets", "mx_target_conflicts", "dead_primary_allowlist"])
def test_ansible_doc_shows_the_address_filters(installed, name):
    out = run(str(BIN / "ansible-doc"), "-t", "filter", "mailsec.mx." + name, env=installed)
    assert "mailsec.mx." + name in out and "EXAMPLES" in out and "RETURN VALUES" in out


@pytest.mark.parametrize("name", ["dead_primary_firewall", "mx_trap_firewall"])
def test_ansible_doc_shows_the_firewall_modules_with_their_shared_options(installed, name):
    out = run(str(BIN / "ansible-doc"), "mailsec.mx." + name, env=installed)
    for text in ("allow_files", "allow_min_prefix4", "persist", "check_mode", "RETURN VALUES"):
        assert text in out


@pytest.mark.parametrize("target", ["filter_mx_layout", "filter_mx_targets"])
def test_playbook_uses_the_filters_by_fqcn(installed, tmp_path, target):
    playbook = tmp_path / "filters.yml"
    tasks = ROOT / "tests" / "integration" / "targets" / target / "tasks" / "main.yml"
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.include_tasks: %s\n" % tasks
    )
    out = run(str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook), env=installed, cwd=tmp_path)
    assert "failed=0" in out and "rescued=1" in out


def test_build_leaves_dev_files_out(tmp_path):
    env = dict(os.environ, ANSIBLE_HOME=str(tmp_path / ".ansible"))
    run(str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp_path), str(ROOT), env=env)
    listing = run("tar", "-tzf", str(next(tmp_path.glob("mailsec-mx-*.tar.gz"))))
    names = set(listing.split())
    assert "plugins/module_utils/_layout.py" in names and "meta/execution-environment.yml" in names
    assert not any(name.startswith((".venv", ".cache", ".ci/", "bench/", ".git/")) for name in names)


def test_the_playbook_runs_by_its_fqcn(installed, tmp_path):
    out = run(str(BIN / "ansible-playbook"), "mailsec.mx.harden_mx", "--syntax-check", "-i", "localhost,", env=installed, cwd=tmp_path)
    assert out.strip().endswith("ansible_collections/mailsec/mx/playbooks/harden_mx.yml")
