"""lab.demo.crude_send: which MX each kind of crude client goes for."""

import subprocess

import pytest

from lab.demo import crude_send

# BIND rotates the order of an RRset: the first record is rarely the lowest.
ANSWER = "30 mx2.example.test.\n60 trap2.example.test.\n10 nolist.example.test.\n20 mx1.example.test.\n"


@pytest.fixture
def dig(monkeypatch):
    def run(args, **kwargs):
        assert args[0] == "dig" and args[-1] == "MX"
        return subprocess.CompletedProcess(args, 0, stdout=ANSWER, stderr="")
    monkeypatch.setattr(crude_send.subprocess, "run", run)


@pytest.mark.parametrize("pick, expected", [("lowest", (10, "nolist.example.test")), ("highest", (60, "trap2.example.test")),
                                            ("first", (30, "mx2.example.test"))])
def test_pick(dig, pick, expected):
    assert crude_send.pick_mx("example.test", pick) == expected


def test_no_mx_is_a_lookup_error(monkeypatch):
    monkeypatch.setattr(crude_send.subprocess, "run",
                        lambda args, **kwargs: subprocess.CompletedProcess(args, 0, stdout="", stderr=""))
    with pytest.raises(LookupError, match="no MX record for example.test"):
        crude_send.pick_mx("example.test")
