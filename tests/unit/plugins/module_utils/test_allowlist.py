"""Allowlists: merging into the fewest networks per family, and errors that name the entry and where it came from."""

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._allowlist import AllowlistError, merge_allowlist, read_allow_file


def write(tmp_path, text, name="senders.txt"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- merging ----------------------------------------------------------------------------------

def test_adjacent_halves_merge_into_one_network():
    assert merge_allowlist(["203.0.113.0/25", "203.0.113.128/25"]) == (["203.0.113.0/24"], [])


def test_duplicates_and_contained_networks_collapse():
    entries = ["10.0.0.0/8", "10.1.2.0/24", "10.0.0.0/8", "2001:db8::/32", "2001:db8:5::/48", "2001:db8::/32"]
    assert merge_allowlist(entries) == (["10.0.0.0/8"], ["2001:db8::/32"])


def test_families_are_split_and_each_sorted_numerically():
    entries = ["2001:db8:9::/48", "198.51.100.0/24", "2001:db8:1::/48", "9.0.0.0/8", "100.64.0.0/10"]
    ipv4, ipv6 = merge_allowlist(entries)
    assert ipv4 == ["9.0.0.0/8", "100.64.0.0/10", "198.51.100.0/24"]
    assert ipv6 == ["2001:db8:1::/48", "2001:db8:9::/48"]


@pytest.mark.parametrize("entry, expected", [
    ("198.51.100.7", (["198.51.100.7/32"], [])),
    ("2001:db8::7", ([], ["2001:db8::7/128"])),
    ("  198.51.100.7  ", (["198.51.100.7/32"], [])),
])
def test_a_bare_address_becomes_a_host_network(entry, expected):
    assert merge_allowlist([entry]) == expected


def test_nothing_to_merge_gives_two_empty_lists():
    assert merge_allowlist() == ([], [])


def test_entries_and_files_merge_together(tmp_path):
    path = write(tmp_path, "203.0.113.128/25\n2001:db8::1\n")
    assert merge_allowlist(["203.0.113.0/25"], [path]) == (["203.0.113.0/24"], ["2001:db8::1/128"])


# --- rejected entries ----------------------------------------------------------------------------

@pytest.mark.parametrize("entry", ["0.0.0.0/0", "::/0"])
def test_everyone_is_refused(entry):
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(["198.51.100.0/24", entry])
    assert str(caught.value) == "allow entry 2: %r would open the dead primary to everyone; list the senders' own networks" % entry


@pytest.mark.parametrize("entry, suggestion", [
    ("203.0.113.5/24", "203.0.113.0/24"),
    ("2001:db8::1/32", "2001:db8::/32"),
])
def test_host_bits_set_suggests_the_network(entry, suggestion):
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(["198.51.100.0/24", entry])
    assert str(caught.value) == "allow entry 2: %r has host bits set; did you mean %s?" % (entry, suggestion)


@pytest.mark.parametrize("entry", ["203.0.113", "203.0.113.300", "", "   ", None, "10/8", 42, "10.0.0.0/33", "mail.example.test"])
def test_not_an_address_names_the_entry(entry):
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(["198.51.100.0/24", entry])
    assert str(caught.value) == "allow entry 2: %r is not an IP address or CIDR" % (entry,)


def test_the_first_bad_entry_is_reported():
    with pytest.raises(AllowlistError, match=r"^allow entry 1: '203\.0\.113'"):
        merge_allowlist(["203.0.113", "0.0.0.0/0"])


def test_bad_file_line_names_the_file_and_line(tmp_path):
    path = write(tmp_path, "# senders\n198.51.100.0/24\n203.0.113.300\n")
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist([], [path])
    assert str(caught.value) == "%s line 3: '203.0.113.300' is not an IP address or CIDR" % path


def test_everyone_in_a_file_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, "\n\n::/0  # oops\n")
    with pytest.raises(AllowlistError, match=r"line 3: '::/0' would open the dead primary to everyone"):
        merge_allowlist([], [path])


# --- allow files ---------------------------------------------------------------------------------

def test_file_comments_blank_lines_and_inline_comments_are_skipped(tmp_path):
    path = write(tmp_path, "# provider ranges\n\n198.51.100.0/24   # relay A\n   \n  2001:db8:5::/48\n#203.0.113.0/24\n")
    assert list(read_allow_file(path)) == [("198.51.100.0/24", (path, 3)), ("2001:db8:5::/48", (path, 5))]


def test_file_with_crlf_line_ends_reads_clean(tmp_path):
    path = write(tmp_path, "198.51.100.0/24\r\n203.0.113.7\r\n")
    assert merge_allowlist([], [path]) == (["198.51.100.0/24", "203.0.113.7/32"], [])


def test_missing_file_is_an_allowlist_error(tmp_path):
    path = str(tmp_path / "missing.txt")
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist([], [path])
    assert str(caught.value) == "allow file %s cannot be read: No such file or directory" % path


def test_non_utf8_file_is_an_allowlist_error(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("198.51.100.0/24 # Zürich\n".encode("latin-1"))
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist([], [str(path)])
    assert str(caught.value) == "allow file %s is not UTF-8 text" % path


def test_empty_file_adds_nothing(tmp_path):
    path = write(tmp_path, "")
    assert merge_allowlist(["198.51.100.0/24"], [path]) == (["198.51.100.0/24"], [])
