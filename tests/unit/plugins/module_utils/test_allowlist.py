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


# --- hostile entries (issue 11) --------------------------------------------------------------------

@pytest.mark.parametrize("entry", [
    "198.51.100.0/24\n", "198.51.100.0/24\n-A INPUT -j ACCEPT", "\t198.51.100.7", "198.51.100.7\r", "198.51.100.7\x00",
    "2001:db8::1\x85", "198.51.100.7\u2028",
])
def test_control_characters_in_an_entry_are_refused(entry):
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(["203.0.113.0/24", entry])
    message = str(caught.value)
    assert message.startswith("allow entry 2: %r contains a control character (U+" % entry)
    assert "\n" not in message


@pytest.mark.parametrize("entry", ["2001:db8::1%1", "fe80::1%eth0", "2001:db8::%1/64", "2001:db8:bb::10%1 -j ACCEPT"])
def test_scope_ids_are_refused(entry):
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist([entry])
    assert str(caught.value) == "allow entry 1: %r has an IPv6 scope id (%%...); list the address or network alone" % entry


@pytest.mark.parametrize("line", ["198.51.100.0/24\r203.0.113.0/24", "198.51.100.0/24\x00", "198.51.100.7 # relay\r\x00",
                                  "198.51.100.7 # comment with a \x1b[2J escape", "2001:db8::1\x0b"])
def test_a_file_line_with_a_control_character_names_file_and_line(tmp_path, line):
    path = write(tmp_path, "# senders\n203.0.113.0/24\n%s\n" % line)
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist([], [path])
    message = str(caught.value)
    assert message.startswith("%s line 3: %r contains a control character (U+" % (path, line))
    assert "\n" not in message and "\r" not in message


def test_a_cr_in_the_middle_does_not_split_the_line(tmp_path):
    # Universal newlines would read "198.51.100.0/24\r203.0.113.0/24" as two valid lines.
    path = write(tmp_path, "198.51.100.0/24\r203.0.113.0/24\n")
    with pytest.raises(AllowlistError, match=r"line 1: .* contains a control character \(U\+000D at offset 15\)"):
        list(read_allow_file(path))


def test_tabs_in_a_file_are_spaces(tmp_path):
    path = write(tmp_path, "\t198.51.100.0/24\t# relay A\r\n2001:db8:5::/48\t\n")
    assert merge_allowlist([], [path]) == (["198.51.100.0/24"], ["2001:db8:5::/48"])


@pytest.mark.parametrize("entry, limit", [
    ("0.0.0.0/1", "/8, the widest IPv4 network allowed (min_prefix4)"),
    ("128.0.0.0/1", "/8, the widest IPv4 network allowed (min_prefix4)"),
    ("10.0.0.0/7", "/8, the widest IPv4 network allowed (min_prefix4)"),
    ("2000::/3", "/16, the widest IPv6 network allowed (min_prefix6)"),
    ("::/1", "/16, the widest IPv6 network allowed (min_prefix6)"),
    ("2002::/15", "/16, the widest IPv6 network allowed (min_prefix6)"),
])
def test_networks_broader_than_the_default_limit_are_refused(entry, limit):
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(["198.51.100.0/24", entry])
    assert str(caught.value) == "allow entry 2: %r is broader than %s; list the senders' own networks" % (entry, limit)


def test_the_default_limits_still_take_a_slash_8_and_a_slash_16():
    assert merge_allowlist(["10.0.0.0/8", "2001::/16"]) == (["10.0.0.0/8"], ["2001::/16"])


def test_a_broad_network_in_a_file_names_file_and_line(tmp_path):
    path = write(tmp_path, "198.51.100.0/24\n2000::/3  # oops\n")
    with pytest.raises(AllowlistError, match=r"^%s line 2: '2000::/3' is broader than /16" % path):
        merge_allowlist([], [path])


def test_the_limits_are_configurable():
    assert merge_allowlist(["10.0.0.0/7", "2000::/3"], min_prefix4=7, min_prefix6=3) == (["10.0.0.0/7"], ["2000::/3"])
    with pytest.raises(AllowlistError, match=r"^allow entry 1: '198.51.100.0/24' is broader than /25, the widest IPv4"):
        merge_allowlist(["198.51.100.0/24"], min_prefix4=25)
    with pytest.raises(AllowlistError, match=r"^allow entry 1: '2001:db8::/32' is broader than /48, the widest IPv6"):
        merge_allowlist(["2001:db8::/32"], min_prefix6=48)
    with pytest.raises(AllowlistError, match="would open the dead primary to everyone"):
        merge_allowlist(["0.0.0.0/0"], min_prefix4=1)


@pytest.mark.parametrize("entries, merged, limit", [
    (["10.0.0.0/8", "11.0.0.0/8"], "10.0.0.0/7", "/8, the widest IPv4 network allowed (min_prefix4)"),
    (["2000::/16", "2001::/16"], "2000::/15", "/16, the widest IPv6 network allowed (min_prefix6)"),
    (["198.51.100.0/25", "198.51.100.128/25"], "198.51.100.0/24", "/25, the widest IPv4 network allowed (min_prefix4)"),
])
def test_entries_that_merge_into_a_network_broader_than_the_limit_are_refused(entries, merged, limit):
    options = {"min_prefix4": 25} if merged == "198.51.100.0/24" else {}
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(entries, **options)
    assert str(caught.value) == (
        "the allowlist as a whole merges into %s, broader than %s; list the senders' own networks" % (merged, limit))


def test_entries_that_merge_into_everyone_are_refused():
    with pytest.raises(AllowlistError, match=r"^the allowlist as a whole covers 0.0.0.0/0 and would open the dead primary to everyone$"):
        merge_allowlist(["0.0.0.0/1", "128.0.0.0/1"], min_prefix4=1)


@pytest.mark.parametrize("option, value", [
    ("min_prefix4", 0), ("min_prefix4", 33), ("min_prefix4", "8"), ("min_prefix4", True), ("min_prefix4", None), ("min_prefix4", 8.0),
    ("min_prefix6", 0), ("min_prefix6", 129), ("min_prefix6", "16"), ("min_prefix6", False),
])
def test_bad_limits_are_allowlist_errors(option, value):
    bits = 32 if option == "min_prefix4" else 128
    with pytest.raises(AllowlistError) as caught:
        merge_allowlist(["198.51.100.0/24"], **{option: value})
    assert str(caught.value) == "%s must be an integer from 1 to %d, not %r" % (option, bits, value)


def test_limits_are_keyword_only():
    with pytest.raises(TypeError):
        merge_allowlist([], [], 8, 16)  # pylint: disable=too-many-function-args
