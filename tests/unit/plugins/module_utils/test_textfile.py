"""The text-file provider base: per-zone paths, exact bytes, file diffs, validation first, atomic replace that
refuses to overwrite a file changed since it was read."""

import os
import stat

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _textfile
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, RecordSet, RecordSetError, converge_zone
from ansible_collections.mailsec.mx.plugins.module_utils._textfile import TextFileProvider, read_file, replace_file

ZONE = "example.test."
MAIL_A = RecordSet("mail.example.test.", "A", 300, ["198.51.100.20"])


class LinesProvider(TextFileProvider):
    """A toy format: one ``name type ttl value`` line per value; other lines are kept as they are."""

    what = "toy file"

    def __init__(self, settings, refuse=None):
        super().__init__(settings)
        self.refuse = refuse
        self.renders = 0

    def parse(self, zone, text, keys):
        found = {}
        for line in text.splitlines():
            fields = line.split()
            if len(fields) == 4 and (fields[0], fields[1]) in keys:
                found.setdefault((fields[0], fields[1]), (int(fields[2]), []))[1].append(fields[3])
        return {key: RecordSet(key[0], key[1], *found[key]) if key in found else None for key in keys}

    def render(self, zone, text, changes):
        self.renders += 1
        keys = {change.key for change in changes}
        kept = [line for line in text.splitlines(True) if tuple(line.split()[:2]) not in keys]
        added = ["%s %s %d %s\n" % (change.key[0], change.key[1], change.after.ttl, value)
                 for change in changes if change.after for value in change.after.values]
        return "".join(kept + added)

    def validate(self, zone, path, text):
        if self.refuse and self.refuse in text:
            raise ProviderError("refused: %s" % self.refuse)


def zone_file(tmp_path, text="; keep me\r\nother.example.test. TXT 60 hello\r\n"):
    path = tmp_path / "example.test.zone"
    path.write_bytes(text.encode())
    return path


def test_publish_keeps_every_other_byte_and_shows_the_file_diff(tmp_path):
    path = zone_file(tmp_path)
    provider = LinesProvider({ZONE: {"path": str(path)}})
    changes, diff = converge_zone(provider, ZONE, [MAIL_A], "present", False)
    assert [change.key for change in changes] == [MAIL_A.key]
    assert path.read_bytes() == b"; keep me\r\nother.example.test. TXT 60 hello\r\nmail.example.test. A 300 198.51.100.20\n"
    assert diff["before_header"] == diff["after_header"] == str(path)
    assert diff["before"] == "; keep me\r\nother.example.test. TXT 60 hello\r\n" and diff["after"] == path.read_bytes().decode()
    assert provider.renders == 1  # preview and apply share one rendering
    assert converge_zone(provider, ZONE, [MAIL_A], "present", False) == ([], {"before": "", "after": "", "before_header": str(path), "after_header": str(path)})


def test_check_mode_validates_and_writes_nothing(tmp_path):
    path = zone_file(tmp_path)
    before = path.read_bytes()
    changes, diff = converge_zone(LinesProvider({ZONE: {"path": str(path)}}), ZONE, [MAIL_A], "present", True)
    assert changes and "198.51.100.20" in diff["after"] and path.read_bytes() == before
    with pytest.raises(ProviderError, match="refused: 198.51.100.20"):
        converge_zone(LinesProvider({ZONE: {"path": str(path)}}, refuse="198.51.100.20"), ZONE, [MAIL_A], "present", True)
    assert sorted(os.listdir(tmp_path)) == ["example.test.zone"]


def test_an_invalid_result_is_never_written(tmp_path):
    path = zone_file(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ProviderError, match="refused"):
        converge_zone(LinesProvider({ZONE: {"path": str(path)}}, refuse="198.51.100.20"), ZONE, [MAIL_A], "present", False)
    assert path.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["example.test.zone"]


def test_a_file_changed_since_it_was_read_is_not_overwritten(tmp_path, monkeypatch):
    path = zone_file(tmp_path)
    provider = LinesProvider({ZONE: {"path": str(path)}})
    real_render = provider.render

    def render_while_someone_edits(zone, text, changes):
        path.write_text("; an editor saved this meanwhile\n")
        return real_render(zone, text, changes)

    monkeypatch.setattr(provider, "render", render_while_someone_edits)
    with pytest.raises(ProviderError, match=r"^someone changed the toy file .* since it was read; nothing was changed, run again$"):
        converge_zone(provider, ZONE, [MAIL_A], "present", False)
    assert path.read_text() == "; an editor saved this meanwhile\n"
    assert sorted(os.listdir(tmp_path)) == ["example.test.zone"]


def test_mode_and_owner_are_kept(tmp_path):
    path = zone_file(tmp_path)
    os.chmod(path, 0o640)
    os.chown(path, 1234, 5678)
    replace_file(str(path), path.read_bytes().decode(), "new\n")
    status = os.stat(path)
    assert (stat.S_IMODE(status.st_mode), status.st_uid, status.st_gid) == (0o640, 1234, 5678)
    assert path.read_text() == "new\n"


def test_bytes_that_are_not_utf8_round_trip(tmp_path):
    path = tmp_path / "latin1.zone"
    path.write_bytes(b"; caf\xe9\n")
    text = read_file(str(path))
    replace_file(str(path), text, text + "x A 1 198.51.100.1\n")
    assert path.read_bytes() == b"; caf\xe9\nx A 1 198.51.100.1\n"


@pytest.mark.parametrize("setup, message", [
    (lambda tmp_path: tmp_path / "missing.zone", r"the file .*missing\.zone does not exist; create it first"),
    (lambda tmp_path: tmp_path, r"the file .* is a directory; give the file's path"),
], ids=["missing", "directory"])
def test_unreadable_paths_are_named(tmp_path, setup, message):
    with pytest.raises(ProviderError, match=message):
        read_file(str(setup(tmp_path)))


def test_an_unwritable_directory_fails_before_anything_changes(tmp_path, monkeypatch):
    path = zone_file(tmp_path)

    def no_space(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_textfile.tempfile, "mkstemp", no_space)
    with pytest.raises(ProviderError, match=r"cannot write the file .*: No space left on device; nothing was changed"):
        replace_file(str(path), path.read_bytes().decode(), "new\n")
    assert path.read_bytes().decode() == "; keep me\r\nother.example.test. TXT 60 hello\r\n"


@pytest.mark.parametrize("settings, message", [
    ({ZONE: {"path": None}}, r"zone example\.test\.: path is required \(the file of the zone\)"),
    ({ZONE: {"path": "/srv/zone\n"}}, "path"),
], ids=["missing", "newline"])
def test_paths_are_checked_before_anything(settings, message):
    with pytest.raises(RecordSetError, match=message):
        TextFileProvider(settings)


def test_a_symbolic_link_is_followed(tmp_path):
    target = zone_file(tmp_path)
    link = tmp_path / "link.zone"
    link.symlink_to(target.name)
    replace_file(str(link), read_file(str(link)), "new\n")
    assert link.is_symlink() and target.read_text() == "new\n"


def test_a_writer_that_does_not_own_the_file_still_replaces_it(tmp_path, monkeypatch):
    path = zone_file(tmp_path)

    def not_the_owner(*args):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(_textfile.os, "chown", not_the_owner)
    replace_file(str(path), read_file(str(path)), "new\n")
    assert path.read_text() == "new\n"


def test_a_home_relative_path_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert TextFileProvider({ZONE: {"path": "~/zones/example.test.zone"}}).paths == {ZONE: str(tmp_path / "zones" / "example.test.zone")}
