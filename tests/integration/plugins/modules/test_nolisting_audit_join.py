"""The audit end to end on real kernels: the dead primary and a live MX host (real nftables / iptables + ipset in
namespaces, see test_mx_live_firewall.Hosts) remember real connections; nolisting_sources reads each side as the
audit role does (its compact table), and mx_audit gives the verdicts.  On both backends: a real MTA refused then
retried, crude senders that gave up, an allowlisted partner never refused, IPv6 grouped per /64, a forged SYN."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _audit
from ansible_collections.mailsec.mx.plugins.modules import mx_audit
from tests.integration.plugins.modules.test_mx_live_firewall import (  # noqa: F401  pylint: disable=unused-import
    BACKENDS, CRUDE, CRUDE6, DEAD, GREETING, LIVE, LIVE_SPEC, MTA, MTA6, NEIGHBOUR6, PARTNER, RESET, SPOOFED, hosts, pytestmark,
)
from tests.module_main import run_main

DEAD_SPEC = {"addresses": DEAD, "allow": [PARTNER]}


def side(host, read):
    """What the audit role's read entry point keeps of a host: its compact table."""
    return {"host": host, "present": read["present"], "table": _audit.render_table(read["sources"])}


@pytest.mark.parametrize("backend", BACKENDS)
def test_verdicts_from_what_the_kernels_remember(hosts, backend, capsys):  # noqa: F811  pylint: disable=redefined-outer-name
    hosts.converge(backend, DEAD_SPEC)
    hosts.converge(backend, LIVE_SPEC)
    # A real MTA walks the MX list: the dead primary resets it, the next MX greets. Twice.
    for attempt in range(2):
        assert [hosts.connect(MTA, DEAD[0]), hosts.connect(MTA, LIVE[0])] == [RESET, GREETING]
    # An IPv6 MTA and its neighbour in the same /64: one refused at the dead primary only, the other walks on.
    assert [hosts.connect(NEIGHBOUR6, DEAD[1]), hosts.connect(MTA6, DEAD[1]), hosts.connect(MTA6, LIVE[1])] == [RESET, RESET, GREETING]
    # Crude senders try the lowest MX only; the partner is allowlisted and greeted there.
    assert [hosts.connect(CRUDE, DEAD[0]), hosts.connect(CRUDE6, DEAD[1])] == [RESET, RESET]
    assert hosts.connect(PARTNER, DEAD[0]) == GREETING
    # Anyone can put a forged source into the refused list (a reset needs no handshake): it shows as gave_up.
    hosts.forge_syns(SPOOFED, DEAD[0], count=2)
    refused = hosts.converge(backend, DEAD_SPEC)["read"]
    arrived = hosts.converge(backend, LIVE_SPEC)["read"]
    result = run_main(mx_audit, capsys, refused=[side("dead", refused)], arrivals=[side("mx1", arrived)], ptr_limit=0,
                      return_sources=True)
    verdicts = {item["source"]: (item["verdict"], item["refused"]) for item in result["sources"]}
    assert verdicts == {
        MTA: ("retried", 2),
        CRUDE: ("gave_up", 1),
        SPOOFED: ("gave_up", 2),
        "2001:db8:77:1::/64": ("retried", 2),
        "2001:db8:77:2::/64": ("gave_up", 1),
    }
    by_source = {item["source"]: item for item in result["sources"]}
    # The delay from a refusal to the arrival that followed: measured by the kernels, within the test's own run.
    assert 0 <= by_source[MTA]["retry_delay"] <= 3600 and by_source[MTA]["days"] == 1
    assert result["counts"] == {"refused_sources": 5, "retried": 2, "gave_up": 3, "candidates": 3, "confirmed_ptr_gave_up": 0,
                                "period_seconds": 604800}
    assert refused["counters"]["allowed"] >= 1 and PARTNER not in verdicts
