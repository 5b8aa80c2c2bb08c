"""Fixtures with real DNS servers on 127.0.0.1 (see servers.py): bind_server, knot_server, powerdns_server.

Each is function-scoped, serves ZONES from its own tmp_path and is stopped on teardown; when the
test failed, the server's log tail is printed so it shows up in pytest's report."""

import pytest

from tests.integration.dns import servers

ZONES = ["example.test.", "other.test."]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item):
    """Keep each phase's report on the item, so fixtures can tell at teardown whether the test failed."""
    report = yield
    setattr(item, "dns_report_" + report.when, report)
    return report


def _test_failed(item):
    reports = (getattr(item, "dns_report_" + phase, None) for phase in ("setup", "call"))
    return any(report is not None and report.failed for report in reports)


def _serve(request, tmp_path, kind, start):
    reason = servers.missing(kind)
    if reason:
        pytest.skip(reason)
    server = start(tmp_path / kind, ZONES)
    yield server
    server.stop()
    if _test_failed(request.node):
        print("--- last lines of the %s log %s ---\n%s" % (kind, server.log_path, server.log_tail()))


@pytest.fixture(name="bind_server")
def fixture_bind_server(request, tmp_path):
    yield from _serve(request, tmp_path, "bind", servers.start_bind)


@pytest.fixture(name="knot_server")
def fixture_knot_server(request, tmp_path):
    yield from _serve(request, tmp_path, "knot", servers.start_knot)


@pytest.fixture(name="powerdns_server")
def fixture_powerdns_server(request, tmp_path):
    yield from _serve(request, tmp_path, "powerdns", servers.start_powerdns)


@pytest.fixture(name="dns_server", params=sorted(servers.BINARIES))
def fixture_dns_server(request):
    """Each kind in turn (ids bind, knot, powerdns): for tests that must pass against all three."""
    return request.getfixturevalue(request.param + "_server")
