"""Build a real two-host lab with lab.mxlab, use it, and tear it down."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest

from lab import mxlab
from lab.mxlab import build

# The folder that holds the `lab` package: `python -m lab.mxlab` runs from there.
ROOT = pathlib.Path(__file__).resolve().parents[3]

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="the namespace lab needs root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="the namespace lab needs iproute2 (ip)"),
]

# Its own range and lab names, so it can run next to the molecule scenarios.
LAB = "it" + str(os.getpid() % 1000)  # room for one more letter
SPEC = {
    "name": LAB,
    "hosts": [
        {"name": "alpha", "addresses": ["198.51.100.10/24", "2001:db8:51::10/64"],
         "extra_addresses": ["198.51.100.11/24"]},
        {"name": "beta", "addresses": ["198.51.100.20/24", "2001:db8:51::20/64"]},
    ],
}


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mxlab")


@pytest.fixture(scope="module")
def lab(state_dir):
    instances = mxlab.up(SPEC, state_dir)
    yield {i["instance"]: i for i in instances}
    mxlab.down(state_dir=state_dir, name=LAB, quiet=True)


def on(instance, *command):
    return mxlab.ssh(instance, *command).stdout.strip()


def tcp_connect(instance, address, port=22):
    probe = f"import socket; socket.create_connection(({address!r}, {port}), timeout=60).close()"
    return mxlab.ssh(instance, "/usr/bin/python3", "-c", f'"{probe}"', check=False)


def test_ssh_reaches_every_host_by_its_name(lab):
    for name, instance in lab.items():
        assert on(instance, "hostname") == name
        assert on(instance, "cat", "/etc/hostname") == name


def test_state_files_describe_the_lab(lab, state_dir):
    instances = json.loads((state_dir / "instances.json").read_text())
    assert [i["instance"] for i in instances] == ["alpha", "beta"]
    assert instances[0]["address"] == "198.51.100.10"
    assert instances[0]["addresses"] == ["198.51.100.10", "2001:db8:51::10"]
    assert instances[0]["identity_file"] == str(state_dir / "id_ed25519")
    inventory = (state_dir / "inventory.yml").read_text()
    assert 'ansible_python_interpreter: "/usr/bin/python3"' in inventory
    assert json.loads((state_dir / "lab.json").read_text())["name"] == LAB


def test_writes_to_etc_stay_inside_the_host(lab):
    probe = f"/etc/mxlab-probe-{LAB}"
    on(lab["alpha"], "sh", "-c", f"'echo alpha > {probe} && mv {probe} {probe}.renamed'")
    assert on(lab["alpha"], "cat", f"{probe}.renamed") == "alpha"
    assert not pathlib.Path(f"{probe}.renamed").exists()
    assert mxlab.ssh(lab["beta"], "test", "-e", f"{probe}.renamed", check=False).returncode == 1


def test_hosts_reach_each_other_over_ipv4_and_ipv6(lab):
    for address in lab["beta"]["addresses"]:
        result = tcp_connect(lab["alpha"], address)
        assert result.returncode == 0, f"alpha -> {address}: {result.stderr}"


def test_extra_addresses_are_left_for_roles_to_add(lab):
    assert lab["alpha"]["extra_addresses"] == ["198.51.100.11"]
    assert "198.51.100.11" not in on(lab["alpha"], "ip", "-o", "addr", "show", "dev", "eth0")


def test_hosts_have_only_connected_routes(lab):
    routes = on(lab["alpha"], "ip", "-4", "route") + "\n" + on(lab["alpha"], "ip", "-6", "route")
    assert "default" not in routes


def test_exec_runs_inside_the_host(lab, state_dir):
    result = subprocess.run(
        [sys.executable, "-m", "lab.mxlab", "exec", "--state-dir", str(state_dir), "beta", "--",
         "sh", "-c", "hostname; cat /etc/hostname; ip -o addr show dev eth0"],
        cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[:2] == ["beta", "beta"]
    assert "198.51.100.20/24" in result.stdout


def test_down_leaves_nothing_behind(lab, state_dir):
    namespaces = mxlab.lab_namespaces(LAB)
    assert len(namespaces) == 2
    pids = {pid for ns in namespaces for pid in mxlab.namespace_pids(ns)}
    pids |= {i["sshd_pid"] for i in lab.values()}
    assert pids

    mxlab.down(state_dir=state_dir)

    assert not [line for line in _ip("netns", "list").splitlines() if line.startswith(f"{LAB}-")]
    assert not re.search(rf"^\d+: {LAB}-", _ip("-o", "link", "show"), re.MULTILINE)
    assert not [pid for pid in pids if mxlab.process_alive(pid)]
    assert not _mounts_mentioning(str(state_dir))
    assert not (state_dir / "hosts").exists()
    assert not (state_dir / "lab.json").exists()
    mxlab.down(state_dir=state_dir, name=LAB)  # a second run is harmless


def test_down_by_name_cleans_a_half_built_lab(tmp_path):
    name = LAB + "h"
    netns, veth, bridge = f"{name}-ghost", mxlab.veth_name(name, 1), mxlab.bridge_name(name)
    _ip("netns", "add", netns)
    _ip("link", "add", bridge, "type", "bridge")
    _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
    # Sleeps far longer than the test takes: only down can end it.
    sleeper = subprocess.Popen(["ip", "netns", "exec", netns, "sleep", "3600"])
    try:
        _wait_for_namespace_pid(netns)
        mxlab.down(name=name)
        assert sleeper.wait(timeout=120) != 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
        mxlab.down(name=name, quiet=True)
    assert netns not in _ip("netns", "list")
    assert not re.search(rf"^\d+: {name}-", _ip("-o", "link", "show"), re.MULTILINE)


def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=True).stdout


def _wait_for_namespace_pid(netns):
    deadline = time.monotonic() + 120  # a deadline for busy machines; it usually takes milliseconds
    while not mxlab.namespace_pids(netns):
        if time.monotonic() > deadline:
            raise AssertionError(f"no process appeared in {netns}")
        time.sleep(0.05)


def _mounts_mentioning(text):
    """Mounts anywhere on the machine (any mount namespace) that name `text`."""
    found = []
    for mountinfo in pathlib.Path("/proc").glob("[0-9]*/mountinfo"):
        try:
            if text in mountinfo.read_text():
                found.append(str(mountinfo))
        except OSError:
            continue
    return found


def test_failed_up_removes_what_it_built(tmp_path, monkeypatch):
    name = LAB + "f"
    spec = {"name": name, "hosts": [{"name": "solo", "addresses": ["198.51.100.30/24"]}]}

    def unreachable(*_args):
        raise mxlab.LabError("simulated: sshd never answered")

    monkeypatch.setattr(build, "_wait_until_reachable", unreachable)
    try:
        with pytest.raises(mxlab.LabError, match="simulated"):
            mxlab.up(spec, tmp_path)
        assert not mxlab.lab_namespaces(name)
        assert not mxlab.lab_links(name)
        assert not (tmp_path / "lab.json").exists()
        assert not _mounts_mentioning(str(tmp_path))
    finally:
        mxlab.down(state_dir=tmp_path, name=name, quiet=True)
