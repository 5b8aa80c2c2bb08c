"""qmail for the matrix: the checked source, the cached build, and what qmail-send's log says."""

import hashlib
import io
import tarfile

import pytest

from lab.matrix import qmail

# A stand-in for the notqmail tree: qmail's Makefile targets, and NROFF as the matrix passes it.
MAKEFILE = b"""it:
\ttouch qmail-remote
man:
\t$(NROFF) -man qmail-remote.8 > qmail-remote.0
"""
FAILING_MAKEFILE = b"it:\n\tfalse\nman:\n\ttrue\n"


def source(folder, makefile=MAKEFILE, listed=None):
    """A tarball with one folder holding ``makefile``, and a SHA256SUMS listing ``listed`` (default: its checksum)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (("notqmail-1.09/Makefile", makefile), ("notqmail-1.09/qmail-remote.8", b".TH qmail-remote 8\n")):
            entry = tarfile.TarInfo(name)
            entry.size = len(data)
            archive.addfile(entry, io.BytesIO(data))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / qmail.TARBALL).write_bytes(buffer.getvalue())
    checksum = hashlib.sha256(buffer.getvalue()).hexdigest()
    (folder / qmail.SUMS).write_text("%s  %s\n" % (listed or checksum, qmail.TARBALL), encoding="utf-8")
    return checksum


@pytest.mark.parametrize("text, expected", [
    ("%s  notqmail-1.09.tar.gz\n" % ("ab" * 32), "ab" * 32),
    ("%s *notqmail-1.09.tar.gz\n" % ("AB" * 32), "ab" * 32),
    ("%s  other.tar.gz\n%s  notqmail-1.09.tar.gz\n" % ("00" * 32, "cd" * 32), "cd" * 32),
    ("%s  other.tar.gz\n" % ("00" * 32), None),
    ("abc  notqmail-1.09.tar.gz\n", None),
    ("", None),
])
def test_the_listed_checksum_is_the_tarballs_line(text, expected):
    assert qmail.listed_checksum(text) == expected


def test_a_machine_without_the_source_skips_qmail_without_failing(tmp_path):
    with pytest.raises(qmail.Unavailable) as error:
        qmail.build(tmp_path / "mta-src", tmp_path / "cache")
    assert error.value.refused is False and qmail.TARBALL in error.value.reason
    assert not (tmp_path / "cache").exists()


def test_a_tarball_that_does_not_match_its_checksum_is_refused_and_not_built(tmp_path):
    found = source(tmp_path / "mta-src", listed="00" * 32)
    with pytest.raises(qmail.Unavailable) as error:
        qmail.build(tmp_path / "mta-src", tmp_path / "cache")
    assert error.value.refused is True and found in error.value.reason and "00" * 32 in error.value.reason
    assert not (tmp_path / "cache").exists()


def test_a_tarball_without_a_listed_checksum_is_refused(tmp_path):
    source(tmp_path / "mta-src")
    (tmp_path / "mta-src" / qmail.SUMS).write_text("", encoding="utf-8")
    with pytest.raises(qmail.Unavailable) as error:
        qmail.verify(tmp_path / "mta-src")
    assert error.value.refused is True


def test_the_build_is_cached_by_checksum_and_reused(tmp_path):
    checksum = source(tmp_path / "mta-src")
    folder, found = qmail.build(tmp_path / "mta-src", tmp_path / "cache")
    assert found == checksum and folder == tmp_path / "cache" / "qmail" / checksum
    assert (folder / "qmail-remote").is_file() and (folder / "qmail-remote.0").read_bytes() == b""
    (folder / "left-by-the-first-build").write_text("x", encoding="utf-8")
    assert qmail.build(tmp_path / "mta-src", tmp_path / "cache") == (folder, checksum)
    assert (folder / "left-by-the-first-build").is_file()
    assert [entry.name for entry in folder.parent.iterdir()] == [checksum]


def test_a_failed_build_leaves_nothing_that_looks_built(tmp_path):
    source(tmp_path / "mta-src", makefile=FAILING_MAKEFILE)
    with pytest.raises(RuntimeError, match="building notqmail-1.09.tar.gz failed"):
        qmail.build(tmp_path / "mta-src", tmp_path / "cache")
    assert list((tmp_path / "cache" / "qmail").iterdir()) == []


def test_the_version_names_the_tarball_and_its_checksum():
    assert qmail.version("ab" * 32) == "notqmail 1.09 (notqmail-1.09.tar.gz, SHA-256 %s)" % ("ab" * 32)


LOG = """starting delivery 3: msg 100 to remote demo@example.test
delivery 3: deferral: Connected_to_198.51.100.11_but_greeting_failed./Remote_host_said:_421_4.3.2_overloaded/
new msg 200
info msg 200: bytes 327 from <matrix@qmail.lab.test> qp 19438 uid 0
starting delivery 4: msg 200 to remote demo@example.test
status: local 0/10 remote 1/20
delivery 4: deferral: Connected_to_198.51.100.11_but_greeting_failed./Remote_host_said:_421_4.3.2_overloaded/
starting delivery 5: msg 100 to remote demo@example.test
starting delivery 6: msg 200 to remote demo@example.test
delivery 5: success: 198.51.100.20_accepted_message./Remote_host_said:_250_2.0.0_Ok/
delivery 6: success: 198.51.100.20_accepted_message./Remote_host_said:_250_2.0.0_Ok/
end msg 200
"""


def test_the_log_counts_the_attempts_of_the_messages_queued_in_it():
    # msg 100 was queued before this piece of the log: its attempts belong to an earlier piece.
    assert qmail.deliveries(LOG) == {
        "messages": 1, "success": 1, "failure": 0, "deferral": 1,
        "reasons": {"Connected to 198.51.100.11 but greeting failed. Remote host said: 421 4.3.2 overloaded": 1}}


def test_an_empty_log_has_no_attempts():
    assert qmail.deliveries("") == {"messages": 0, "success": 0, "failure": 0, "deferral": 0, "reasons": {}}
