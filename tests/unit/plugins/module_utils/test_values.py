"""Value checks: control characters, strict MX addresses and ruleset tokens, with hostile values first."""

import ipaddress

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils._values import (
    UnusableAddressError,
    check_rule_token,
    check_text,
    control_character,
    mx_address,
)

# The value that put an SSH lockout rule into ip6tables-restore input.
INJECTION = "2001:db8:bb::10%1 -j ACCEPT\n-I INPUT 1 -p tcp --dport 22 -j DROP\n"


# --- check_text -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["", "mail.example.test", "a b c", "Zürich", "203.0.113.7/32", "\u00a0"])
def test_check_text_returns_clean_text_unchanged(value):
    assert check_text("host", value) is value


@pytest.mark.parametrize("character", ["\x00", "\t", "\n", "\r", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f",
                                       "\u2028", "\u2029"])
@pytest.mark.parametrize("where", ["{}abc", "abc{}", "ab{}c"])
def test_check_text_refuses_every_control_character_anywhere(character, where):
    value = where.format(character)
    with pytest.raises(ValueError) as caught:
        check_text("dead_primary_addresses", value)
    message = str(caught.value)
    assert message.startswith("dead_primary_addresses: %r contains a control character (U+%04X at offset %d)"
                              % (value, ord(character), value.index(character)))


def test_check_text_message_shows_the_newline_escaped():
    with pytest.raises(ValueError) as caught:
        check_text("opt", "a\nb")
    assert "\n" not in str(caught.value) and "'a\\nb'" in str(caught.value)


def test_control_character_describes_the_first_one():
    assert control_character("mail.example.test") is None
    assert control_character("ab\r\ncd") == "U+000D at offset 2"


@pytest.mark.parametrize("value", [None, 1, b"mail.example.test", ["a"]])
def test_check_text_refuses_non_strings(value):
    with pytest.raises(ValueError, match=r"^opt: .* is not a string$"):
        check_text("opt", value)


# --- mx_address -------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("203.0.113.10", "203.0.113.10"),
    ("2001:db8::10", "2001:db8::10"),
    ("2001:DB8:0::10", "2001:db8::10"),
    ("10.1.2.3", "10.1.2.3"),
    ("64:ff9b::203.0.113.1", "64:ff9b::cb00:7101"),
    ("fec0::1", "fec0::1"),
])
def test_mx_address_accepts_plain_addresses(value, expected):
    address = mx_address("addresses", value)
    assert isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address))
    assert address.compressed == expected


@pytest.mark.parametrize("value, reason", [
    (INJECTION, "control character"),
    ("2001:db8:bb::10%1", "scope id"),
    ("fe80::1%eth0", "scope id"),
    ("2001:db8::10%", "scope id"),
    ("203.0.113.10\n", "control character"),
    ("203.0.113.10\r", "control character"),
    ("203.0.113.10\x00", "control character"),
    ("2001:db8::\t10", "control character"),
    (" 203.0.113.10", "whitespace"),
    ("203.0.113.10 ", "whitespace"),
    ("2001:db8:: 10", "whitespace"),
    ("::ffff:203.0.113.10", "IPv4-mapped IPv6 address (write 203.0.113.10)"),
    ("::ffff:cb00:710a", "IPv4-mapped"),
    ("::203.0.113.10", "IPv4-compatible"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("0.1.2.3", "0.0.0.0/8"),
    ("255.255.255.255", "limited broadcast"),
    ("127.0.0.1", "loopback"),
    ("127.1.2.3", "loopback"),
    ("::1", "loopback"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("203.0.113.0/24", "not a single IPv4/IPv6 address"),
    ("203.0.113", "not a single IPv4/IPv6 address"),
    ("203.0.113.010", "not a single IPv4/IPv6 address"),
    ("mail.example.test", "not a single IPv4/IPv6 address"),
    ("", "not a single IPv4/IPv6 address"),
    ("２０３.0.113.10", "not a single IPv4/IPv6 address"),
])
def test_mx_address_refuses_hostile_and_unusable_addresses(value, reason):
    with pytest.raises(ValueError) as caught:
        mx_address("dead_primary_addresses", value)
    message = str(caught.value)
    assert message.startswith("dead_primary_addresses: %r " % value)
    assert reason in message
    assert "\n" not in message
    unusable = reason not in ("control character", "scope id", "whitespace", "not a single IPv4/IPv6 address")
    assert isinstance(caught.value, UnusableAddressError) == unusable


@pytest.mark.parametrize("value", [None, 3232235777, True, b"203.0.113.10", ipaddress.ip_address("203.0.113.10"), ["203.0.113.10"]])
def test_mx_address_refuses_non_strings(value):
    with pytest.raises(ValueError, match=r"^addresses: .* is not a string holding an IP address$"):
        mx_address("addresses", value)


# --- check_rule_token ---------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["203.0.113.10", "2001:db8::/32", "25", "1024-65535", "mailsec_dead", "mx-trap", "ip6", 25, 0])
def test_rule_token_passes_what_a_ruleset_token_may_hold(value):
    assert check_rule_token("address", value) is value


@pytest.mark.parametrize("value", [
    INJECTION, "2001:db8:bb::10%1", "203.0.113.10 ", "a b", "a;b", "a}b", "a{b", "a\"b", "a'b", "a#b", "a\\b", "a,b",
    "", "\n", "a\x00", "dé", "1\u00a02", None, True, -1, 2.5, b"25", ["25"],
])
def test_rule_token_refuses_anything_else(value):
    with pytest.raises(ValueError) as caught:
        check_rule_token("set element", value)
    assert str(caught.value).startswith("refusing to write set element %r into a ruleset" % (value,))
    assert "\n" not in str(caught.value)
