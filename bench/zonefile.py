"""Benchmark: mailsec.mx.zonefile_record_set on a zone file with 10,000 other records, against what a user would
do instead (load the zone with dnspython, replace the RRsets, write it back), in one run.

Ours: the module's main() in-process (what Ansible runs, minus the fork), publishing a nolisting layout (5 RRsets),
then a rerun that must change nothing, then a change of one address. Each writes the file only when something
changed and runs named-checkzone on the new text (and, to read, on the old one).
Theirs: ``dns.zone.from_file`` + replace the RRsets + serial + ``to_file``: it loses every comment, $TTL, $ORIGIN,
$INCLUDE and the order of the file, which is why a zone kept in git is not edited that way.

Usage: .venv/bin/python -m bench.zonefile [--records 10000]   (from the repository root)
Goal (issue 13): a zone file of 10,000 other records edited in under 1 s.
"""

import argparse
import contextlib
import datetime
import io
import json
import pathlib
import re
import tempfile
import time

import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.zone
from ansible.module_utils.testing import patch_module_args

# tests/conftest.py makes the collection importable as ansible_collections.mailsec.mx.
from tests import conftest  # noqa: F401  pylint: disable=unused-import
from ansible_collections.mailsec.mx.plugins.module_utils import _zonefile  # noqa: E402  pylint: disable=wrong-import-order
from ansible_collections.mailsec.mx.plugins.modules import zonefile_record_set  # noqa: E402  pylint: disable=wrong-import-order

ZONE = "example.test."
TTL = 3600
COMMENT = re.compile(r'^(?:[^";]|"[^"]*")*;')  # a ';' outside quoted strings


def zone_text(records):
    """A zone file as people write them: comments, $TTL, $ORIGIN, blank owners, and ``records`` other records."""
    lines = [
        "; example.test - kept in git",
        "$ORIGIN example.test.",
        "$TTL 1h",
        "@ IN SOA ns1 hostmaster (",
        "        2024010100 ; serial",
        "        3600 600 1209600 300 )",
        "  IN NS ns1",
        "  IN NS ns2.example.net.",
        "ns1 IN A 198.51.100.53",
    ]
    for number in range(records):
        if number % 100 == 0:
            lines.append("")
            lines.append("; hosts %d-%d" % (number, number + 99))
        kind = number % 5
        host = "host%d" % number
        if kind == 0:
            lines.append("%s IN A 198.51.%d.%d" % (host, 100 + number // 65536 % 2, number % 250 + 1))
        elif kind == 1:
            lines.append("%s 300 IN AAAA 2001:db8::%x" % (host, number))
        elif kind == 2:
            lines.append('%s IN TXT "v=spf1 -all; host %d"  ; a TXT' % (host, number))
        elif kind == 3:
            lines.append("%s IN CNAME host%d" % (host, number - 3))
        else:
            lines.append("_sip._tcp.%s IN SRV 10 60 5060 host%d" % (host, number - 4))
    return "\n".join(lines) + "\n"


def layout_sets(mail="203.0.113.20"):
    return [
        {"name": "example.test", "type": "MX", "ttl": TTL, "values": ["10 nolist.example.test", "20 mail.example.test", "90 backstop.example.test"]},
        {"name": "nolist.example.test", "type": "A", "ttl": TTL, "values": ["203.0.113.10"]},
        {"name": "nolist.example.test", "type": "AAAA", "ttl": TTL, "values": ["2001:db8::10"]},
        {"name": "mail.example.test", "type": "A", "ttl": TTL, "values": [mail]},
        {"name": "backstop.example.test", "type": "A", "ttl": TTL, "values": [mail]},
    ]


def run_module(path, record_sets):
    """main() in-process; (seconds, result)."""
    output = io.StringIO()
    start = time.perf_counter()
    with patch_module_args({"path": str(path), "zone": ZONE, "record_sets": record_sets}), contextlib.redirect_stdout(output):
        try:
            zonefile_record_set.main()
        except SystemExit:
            pass
    seconds = time.perf_counter() - start
    result = json.loads(output.getvalue())
    if result.get("failed"):
        raise SystemExit("the module failed: %s" % result["msg"])
    return seconds, result


def with_dnspython(path, record_sets):
    """What a user does without the module: load, replace, bump the serial, write. (seconds, new text)."""
    start = time.perf_counter()
    zone = dns.zone.from_file(str(path), ZONE, relativize=False)
    for record_set in record_sets:
        name = record_set["name"].rstrip(".") + "."
        rdtype = dns.rdatatype.from_text(record_set["type"])
        values = [value if record_set["type"] != "MX" else value + "." for value in record_set["values"]]
        rdataset = dns.rdataset.from_text_list(dns.rdataclass.IN, rdtype, record_set["ttl"], values)
        zone.replace_rdataset(name, rdataset)
    soa = zone.find_rdataset(ZONE, "SOA")
    soa_rdata = soa[0].replace(serial=soa[0].serial + 1)
    zone.replace_rdataset(ZONE, dns.rdataset.from_rdata(soa.ttl, soa_rdata))
    zone.to_file(str(path), relativize=False)
    seconds = time.perf_counter() - start
    return seconds, path.read_text()


def kept_lines(before, after):
    """How many of the original's non-blank lines are still in the file, as they were."""
    remaining = set(after.splitlines())
    lines = [line for line in before.splitlines() if line.strip()]
    return sum(1 for line in lines if line in remaining), len(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    records = parser.parse_args().records
    _zonefile.utc_today = lambda: datetime.date(2026, 11, 30)  # the serial's date form: the same figures every day
    text = zone_text(records)
    with tempfile.TemporaryDirectory() as workdir:
        path = pathlib.Path(workdir) / "example.test.zone"
        path.write_text(text)
        publish, result = run_module(path, layout_sets())
        assert result["changed"] is True, result
        published = path.read_bytes()
        rerun, result = run_module(path, layout_sets())
        assert result["changed"] is False and path.read_bytes() == published, result
        change, result = run_module(path, layout_sets(mail="203.0.113.21"))
        assert result["changed"] is True, result
        ours_kept, total = kept_lines(text, path.read_text())

        theirs_path = pathlib.Path(workdir) / "theirs.zone"
        theirs_path.write_text(text)
        theirs, theirs_text = with_dnspython(theirs_path, layout_sets())
        theirs_kept, _total = kept_lines(text, theirs_text)
        comments = sum(1 for line in text.splitlines() if COMMENT.search(line))
        comments_left = sum(1 for line in theirs_text.splitlines() if COMMENT.search(line))

    print("zone file with %d other records (%d lines, %d with a comment), nolisting layout of 5 RRsets" % (records, total, comments))
    print("%-48s %9s   %s" % ("what", "seconds", "lines of the original kept byte-identical"))
    print("%-48s %9.3f   %d of %d%s" % ("zonefile_record_set main(): publish", publish, ours_kept, total,
                                        "   (goal: < 1 s)" if records == 10_000 else ""))
    print("%-48s %9.3f   file byte-identical" % ("zonefile_record_set main(): rerun (no change)", rerun))
    print("%-48s %9.3f" % ("zonefile_record_set main(): change one address", change))
    print("%-48s %9.3f   %d of %d (comments left: %d of %d)"
          % ("dnspython dns.zone load + replace + to_file", theirs, theirs_kept, total, comments_left, comments))
    print("ours / dnspython (publish): %.2fx the time" % (publish / theirs))


if __name__ == "__main__":
    main()
