"""mx_verify's many-domain form against a real BIND and real port-25 listeners, in a network namespace of its own
(netns_mx_verify_domains.py): the module in-process and the mx_verify role through ansible-playbook."""

import os
import pathlib
import re
import shutil
import sys

import pytest

from lab.netns import Namespace

HERE = pathlib.Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("named"), reason="needs root (port 25) and BIND")


def test_mx_verify_domains_in_a_network_namespace_of_its_own():
    """Every test of netns_mx_verify_domains.py, run where its addresses never touch an interface of the machine."""
    with Namespace("mxverifydoms") as namespace:
        result = namespace.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "netns_mx_verify_domains.py")],
                               cwd=HERE.parents[3], env=dict(os.environ, MAILSEC_MX_VERIFY_NETNS="1"))
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ passed in .*", summary) and int(summary.split()[0]) >= 3, result.stdout[-2000:]
