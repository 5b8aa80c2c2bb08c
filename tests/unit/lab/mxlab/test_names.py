"""lab.mxlab.names: the names of a lab's links and where its files go."""

import pathlib

from lab import mxlab


def test_interface_names_fit_the_kernel_limit_and_stay_per_lab():
    assert len(mxlab.veth_name("abcdef", mxlab.MAX_HOSTS)) <= 15
    assert len(mxlab.bridge_name("abcdef")) <= 15
    pattern = mxlab.lab_link_pattern("dp")
    assert pattern.match("dp-br") and pattern.match("dp-12h")
    assert not pattern.match("dp1-br") and not pattern.match("dpx-1h") and not pattern.match("dp-1n")


def test_runtime_dir_moves_out_of_paths_the_hosts_overlay():
    assert mxlab.choose_runtime_dir(pathlib.Path("/tmp/x/lab"), "dp") == pathlib.Path("/tmp/x/lab")
    for hidden in ("/root/.cache/molecule/lab", "/var/tmp/lab", "/etc/lab", "/run/lab"):
        assert mxlab.choose_runtime_dir(pathlib.Path(hidden), "dp") == mxlab.FALLBACK_RUNTIME_ROOT / "dp"
    assert mxlab.choose_runtime_dir(pathlib.Path("/rootless/lab"), "dp") == pathlib.Path("/rootless/lab")
