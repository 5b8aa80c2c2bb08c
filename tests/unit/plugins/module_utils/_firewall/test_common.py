"""The shared firewall layer: snapshots and diffs, the SSH guard, converge and file helpers."""

import os
import stat

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._firewall import common as _firewall
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.common import (
    Snapshot,
    converge,
    host_element,
    read_text,
    remove_file,
    snapshot_diff,
    ssh_guard,
    validate_interface,
    write_file,
)
from ansible_collections.mailsec.mx.plugins.module_utils._firewall.dead_primary import DeadPrimarySpec


def spec(**changes):
    args = dict(name="dead_primary", addresses=["203.0.113.10", "2001:db8::10"], ports=[25], action="reset",
                allow=["198.51.100.0/24", "2001:db8:5::/48"])
    args.update(changes)
    return DeadPrimarySpec(**args)


@pytest.mark.parametrize("entry, element", [
    ("198.51.100.7", "198.51.100.7/32"),
    ("2001:db8::7", "2001:db8::7/128"),
    ("198.51.100.0/24", "198.51.100.0/24"),
    ("2001:db8::/32", "2001:db8::/32"),
])
def test_host_element(entry, element):
    assert host_element(entry) == element


# --- Snapshot ------------------------------------------------------------------------------------------

def test_snapshots_compare_structure_and_elements_regardless_of_order():
    one = Snapshot("table x\n", {"allow4": ["10.0.2.0/24", "10.0.1.0/24"]})
    same = Snapshot("table x\n", {"allow4": ["10.0.1.0/24", "10.0.2.0/24"]})
    assert one == same
    assert (one != same) is False
    assert hash(one) == hash(same)
    assert one != Snapshot("table y\n", {"allow4": ["10.0.1.0/24", "10.0.2.0/24"]})
    assert one != Snapshot("table x\n", {"allow4": ["10.0.1.0/24"]})
    assert one != Snapshot("table x\n", {"allow4": ["10.0.1.0/24", "10.0.2.0/24"], "allow6": []})
    assert one.__eq__(None) is False  # the absent state is None


def test_render_lists_small_sets_in_full():
    snapshot = Snapshot("table x {\n}\n", {"allow6": ["2001:db8::/32"], "allow4": ["10.0.2.0/24", "10.0.1.0/24"]})
    assert snapshot.render(Snapshot("table x {\n}\n", {})) == (
        "table x {\n}\n"
        "# set allow4: 2 elements\n  10.0.1.0/24\n  10.0.2.0/24\n"
        "# set allow6: 1 elements\n  2001:db8::/32\n"
    )


def nets(first, last):
    return ["10.0.%d.0/24" % number for number in range(first, last + 1)]


def test_render_of_large_sets_shows_only_differences(monkeypatch):
    monkeypatch.setattr(_firewall, "DIFF_ELEMENT_LIMIT", 3)
    before = Snapshot("t\n", {"allow4": nets(1, 4)})
    after = Snapshot("t\n", {"allow4": nets(1, 9)})
    assert after.render(before) == "t\n# set allow4: 9 elements\n  10.0.5.0/24\n  10.0.6.0/24\n  10.0.7.0/24\n  ... and 2 more not in the other state\n"
    assert before.render(after) == "t\n# set allow4: 4 elements\n"


def test_render_of_a_large_set_against_nothing_is_capped(monkeypatch):
    monkeypatch.setattr(_firewall, "DIFF_ELEMENT_LIMIT", 3)
    text = Snapshot("t\n", {"allow4": nets(1, 5)}).render()
    assert text == "t\n# set allow4: 5 elements\n  10.0.1.0/24\n  10.0.2.0/24\n  10.0.3.0/24\n  ... and 2 more not in the other state\n"


def test_render_at_the_limit_lists_everything(monkeypatch):
    monkeypatch.setattr(_firewall, "DIFF_ELEMENT_LIMIT", 3)
    text = Snapshot("t\n", {"allow4": nets(1, 3)}).render(Snapshot("t\n", {"allow4": nets(1, 3)}))
    assert text == "t\n# set allow4: 3 elements\n  10.0.1.0/24\n  10.0.2.0/24\n  10.0.3.0/24\n"


def test_snapshot_diff_with_absent_sides():
    snapshot = Snapshot("t\n", {"allow4": ["10.0.1.0/24"]})
    rendered = "t\n# set allow4: 1 elements\n  10.0.1.0/24\n"
    assert snapshot_diff(None, snapshot) == {"before": "", "after": rendered}
    assert snapshot_diff(snapshot, None) == {"before": rendered, "after": ""}
    assert snapshot_diff(None, None) == {"before": "", "after": ""}
    assert snapshot_diff(snapshot, snapshot) == {"before": rendered, "after": rendered}


# --- ssh_guard --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("connection", ["198.51.100.50 51234 203.0.113.10 25", "2001:db8::50 51234 2001:db8::10 25"])
def test_ssh_guard_refuses_to_catch_the_ssh_connection(connection):
    with pytest.raises(ValueError, match="refusing to guard .* port 25: Ansible is connected over SSH to exactly that address and port"):
        ssh_guard(spec(), {"SSH_CONNECTION": connection})


def test_ssh_guard_normalises_the_server_address():
    with pytest.raises(ValueError, match="refusing to guard 2001:db8::10 port 25"):
        ssh_guard(spec(), {"SSH_CONNECTION": "2001:db8::50 51234 2001:DB8:0::10 25"})


@pytest.mark.parametrize("connection", [
    "198.51.100.50 51234 203.0.113.10 22",    # SSH on its usual port
    "198.51.100.50 51234 203.0.113.20 25",    # another address of the host
    "",
    "garbage",
    "198.51.100.50 51234 203.0.113.10 25 extra",
    "198.51.100.50 51234 not-an-address 22",  # the port in use is not guarded: the address does not matter
])
def test_ssh_guard_allows_other_connections_and_ignores_garbled_env(connection):
    assert ssh_guard(spec(), {"SSH_CONNECTION": connection}, resolve=unresolvable) is None


def unresolvable(*args):
    raise OSError("no such name")


@pytest.mark.parametrize("connection", [
    "198.51.100.50 51234 not-an-address 25",   # a name that does not resolve, on a guarded port
    "198.51.100.50 51234 203.0.113.10 ssh",    # a port that cannot be read
])
def test_ssh_guard_fails_closed_when_the_connection_cannot_be_told(connection):
    with pytest.raises(ValueError, match="cannot be told"):
        ssh_guard(spec(), {"SSH_CONNECTION": connection}, resolve=unresolvable)


def test_ssh_guard_resolves_a_name_given_as_the_ssh_address():
    def resolve(name, *args):
        assert name == "dead.example.test"
        return [(2, 1, 6, "", ("198.51.100.9", 0)), (10, 1, 6, "", ("2001:db8::10", 0, 0, 0))]

    with pytest.raises(ValueError, match="refusing to guard 2001:db8::10 port 25"):
        ssh_guard(spec(), environ={}, fallback=("dead.example.test", 25), resolve=resolve)
    assert ssh_guard(spec(addresses=["203.0.113.11"]), environ={}, fallback=("dead.example.test", 25), resolve=resolve) is None


def test_ssh_guard_without_ssh_connection():
    assert ssh_guard(spec(), {}) is None


def test_ssh_guard_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("SSH_CONNECTION", "198.51.100.50 51234 203.0.113.10 25")
    with pytest.raises(ValueError):
        ssh_guard(spec())
    monkeypatch.delenv("SSH_CONNECTION")
    assert ssh_guard(spec()) is None


# --- converge -----------------------------------------------------------------------------------------------

class FakeBackend:
    """Records what converge asks of it; ``live`` is what current() reads, ``persisted`` what persist() reports."""

    def __init__(self, live=None, persisted=()):
        self.live = live
        self.persisted = list(persisted)
        self.calls = []

    def wanted(self, wanted_spec):
        return Snapshot("table %s\n" % wanted_spec.name, {"allow4": wanted_spec.allow4, "allow6": wanted_spec.allow6})

    def current(self):
        self.calls.append(("current",))
        return self.live

    def apply(self, wanted_spec, before):
        self.calls.append(("apply", wanted_spec, before))

    def remove(self):
        self.calls.append(("remove",))

    def persist(self, wanted_spec, check_mode):
        self.calls.append(("persist", wanted_spec, check_mode))
        return list(self.persisted)

    def called(self, name):
        return [call for call in self.calls if call[0] == name]


def test_converge_applies_a_missing_ruleset():
    wanted = spec()
    backend = FakeBackend(persisted=["/etc/nftables.conf"])
    changed, diff, persisted = converge(backend, wanted, "present", check_mode=False, persist=True)
    assert changed is True
    assert backend.calls == [("current",), ("apply", wanted, None), ("persist", wanted, False)]
    assert diff == {"before": "", "after": backend.wanted(wanted).render()}
    assert persisted == ["/etc/nftables.conf"]


def test_converge_passes_the_live_state_to_apply():
    wanted = spec()
    live = Snapshot("table old\n", {})
    backend = FakeBackend(live)
    converge(backend, wanted, "present", check_mode=False, persist=False)
    assert backend.called("apply") == [("apply", wanted, live)]


def test_converge_is_ok_when_the_live_ruleset_matches():
    wanted = spec()
    backend = FakeBackend()
    backend.live = backend.wanted(wanted)
    changed, diff, persisted = converge(backend, wanted, "present", check_mode=False, persist=True)
    assert (changed, persisted) == (False, [])
    assert backend.called("apply") == [] and backend.called("remove") == []
    assert diff["before"] == diff["after"]


def test_converge_reports_changed_when_only_persisted_files_changed():
    wanted = spec()
    backend = FakeBackend(persisted=["/etc/nftables.d/mailsec_dead_primary.nft"])
    backend.live = backend.wanted(wanted)
    changed, dummy, persisted = converge(backend, wanted, "present", check_mode=False, persist=True)
    assert changed is True
    assert persisted == ["/etc/nftables.d/mailsec_dead_primary.nft"]
    assert backend.called("apply") == []


def test_converge_without_persist_removes_earlier_boot_files():
    # Boot files left from an earlier persisting run would bring back an old allowlist at the next reboot.
    backend = FakeBackend(persisted=["/etc/nftables.d/mailsec_dead_primary.nft"])
    changed, dummy, persisted = converge(backend, spec(), "present", check_mode=False, persist=False)
    assert (changed, persisted) == (True, ["/etc/nftables.d/mailsec_dead_primary.nft"])
    assert backend.called("persist") == [("persist", None, False)]


@pytest.mark.parametrize("state", ["present", "absent"])
def test_check_mode_changes_nothing(state):
    wanted = spec()
    backend = FakeBackend(Snapshot("table old\n", {}), persisted=["/etc/nftables.conf"])
    changed, diff, persisted = converge(backend, wanted, state, check_mode=True, persist=True)
    assert changed is True
    assert backend.called("apply") == [] and backend.called("remove") == []
    assert [call[2] for call in backend.called("persist")] == [True]
    assert persisted == ["/etc/nftables.conf"]
    assert diff["before"] == "table old\n"


def test_absent_removes_the_ruleset_and_its_boot_files():
    backend = FakeBackend(Snapshot("table old\n", {}))
    changed, diff, persisted = converge(backend, spec(), "absent", check_mode=False, persist=True)
    assert changed is True
    assert backend.calls == [("current",), ("remove",), ("persist", None, False)]
    assert diff == {"before": "table old\n", "after": ""}


@pytest.mark.parametrize("persist", [True, False])
def test_absent_always_cleans_boot_files(persist):
    backend = FakeBackend(persisted=["/etc/iptables/rules.v4"])
    changed, dummy, persisted = converge(backend, None, "absent", check_mode=False, persist=persist)
    assert backend.called("persist") == [("persist", None, False)]
    assert backend.called("remove") == []
    assert (changed, persisted) == (True, ["/etc/iptables/rules.v4"])


def test_absent_when_nothing_is_there_is_ok():
    backend = FakeBackend()
    assert converge(backend, None, "absent", check_mode=False, persist=True) == (False, {"before": "", "after": ""}, [])
    assert backend.called("remove") == []


# --- files ----------------------------------------------------------------------------------------------

def test_write_file_creates_directories_and_a_0600_file(tmp_path):
    path = tmp_path / "etc" / "nftables.d" / "mailsec.nft"
    assert write_file(str(path), "table inet x {}\n", check_mode=False) is True
    assert path.read_text(encoding="utf-8") == "table inet x {}\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["mailsec.nft"]  # no temporary left behind


def test_write_file_replaces_different_content_atomically(tmp_path):
    path = tmp_path / "rules.v4"
    path.write_text("old\n", encoding="utf-8")
    inode = path.stat().st_ino
    assert write_file(str(path), "new\n", check_mode=False) is True
    assert path.read_text(encoding="utf-8") == "new\n"
    assert path.stat().st_ino != inode  # renamed over, never truncated in place
    assert os.listdir(tmp_path) == ["rules.v4"]


def test_write_file_leaves_equal_content_untouched(tmp_path):
    path = tmp_path / "rules.v4"
    path.write_text("same\n", encoding="utf-8")
    path.chmod(0o644)
    before = path.stat()
    assert write_file(str(path), "same\n", check_mode=False) is False
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns, stat.S_IMODE(after.st_mode)) == (before.st_ino, before.st_mtime_ns, 0o644)


def test_write_file_in_check_mode_writes_nothing(tmp_path):
    new = tmp_path / "missing" / "file"
    assert write_file(str(new), "text\n", check_mode=True) is True
    assert not new.parent.exists()
    existing = tmp_path / "existing"
    existing.write_text("old\n", encoding="utf-8")
    assert write_file(str(existing), "new\n", check_mode=True) is True
    assert existing.read_text(encoding="utf-8") == "old\n"


def test_remove_file(tmp_path):
    path = tmp_path / "ipsets"
    path.write_text("x\n", encoding="utf-8")
    assert remove_file(str(path), check_mode=True) is True
    assert path.exists()
    assert remove_file(str(path), check_mode=False) is True
    assert not path.exists()
    assert remove_file(str(path), check_mode=False) is False


def test_read_text(tmp_path):
    path = tmp_path / "nftables.conf"
    assert read_text(str(path)) == ""
    path.write_text("#!/usr/sbin/nft -f\n", encoding="utf-8")
    assert read_text(str(path)) == "#!/usr/sbin/nft -f\n"


def test_write_file_keeps_the_mode_of_a_file_it_replaces(tmp_path):
    path = tmp_path / "nftables.conf"
    path.write_text("#!/usr/sbin/nft -f\n", encoding="utf-8")
    path.chmod(0o755)
    assert write_file(str(path), "#!/usr/sbin/nft -f\ninclude \"x\"\n", check_mode=False) is True
    assert path.stat().st_mode & 0o7777 == 0o755


def test_ssh_guard_uses_the_connection_when_sudo_dropped_ssh_connection():
    guarded = spec(addresses=["203.0.113.2"], ports=[22, 25])
    with pytest.raises(ValueError, match="refusing to guard 203.0.113.2 port 22"):
        ssh_guard(guarded, environ={}, fallback=("203.0.113.2", 22))
    ssh_guard(guarded, environ={}, fallback=("203.0.113.3", 22))
    ssh_guard(guarded, environ={}, fallback=(None, None))


@pytest.mark.parametrize("interface", [None, "eth0", "ens3", "br-lab.10", "veth_0:1", "a" * 15])
def test_interface_names_linux_takes(interface):
    assert validate_interface(interface) == interface


@pytest.mark.parametrize("interface", ["", "-h", "eth0 up", "eth0\t", "eth0/1", "a" * 16, ".eth0", 7])
def test_other_interface_values_are_refused(interface):
    with pytest.raises(ValueError, match="is not an interface name"):
        validate_interface(interface)
