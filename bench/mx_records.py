"""Benchmark: publish the MX layouts of 1,000 zones on one real BIND server, against
community.general.nsupdate with one record per task, in one run.

Ours: one ``mailsec.mx.rfc2136_record_set`` call with ``zones:`` (one atomic, TSIG-signed UPDATE per
zone, the fastest form the collection documents), then a rerun that must change nothing.
Theirs: ``community.general.nsupdate``, one task item per record (what users write today), for a
subset of zones; it needs the ``ansible`` package, whose community.general is unpacked on first use
into .cache/bench (bench-only dependency).

Usage: make bench   (or: .venv/bin/python bench/mx_records.py [--zones 1000] [--nsupdate-zones 10])
Goal (issue 4): 1,000 zones in under 60 s.
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
CACHE = ROOT / ".cache" / "bench"
ANSIBLE_PACKAGE = "ansible==12.3.0"  # the release that goes with ansible-core 2.19
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".cache" / "collections"))

from tests.integration.dns import servers  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_record_sets  # noqa: E402  pylint: disable=wrong-import-position


def layout(zone):
    return [
        {"preference": 10, "host": "nolist." + zone, "role": "dead", "addresses": ["203.0.113.10", "2001:db8::10"]},
        {"preference": 20, "host": "mail." + zone, "addresses": ["203.0.113.20"]},
        {"preference": 30, "host": "backup.example.net"},
        {"preference": 90, "host": "backstop." + zone, "role": "backstop", "addresses": ["203.0.113.20"]},
    ]


OURS = """
- name: Publish every zone's layout in one call
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One atomic UPDATE per zone
      mailsec.mx.rfc2136_record_set:
        server: 127.0.0.1
        port: "{{ dns_port }}"
        key_name: "{{ key_name }}"
        key_secret: "{{ key_secret }}"
        zones: "{{ bench_zones }}"
"""

NSUPDATE = """
- name: Publish with community.general.nsupdate, one record per task item
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One record per item
      community.general.nsupdate:
        server: 127.0.0.1
        port: "{{ dns_port }}"
        key_name: "{{ key_name }}"
        key_secret: "{{ key_secret }}"
        key_algorithm: hmac-sha256
        zone: "{{ item.zone }}"
        record: "{{ item.record }}"
        type: "{{ item.type }}"
        value: "{{ item.value }}"
        ttl: 3600
      loop: "{{ bench_records }}"
"""


def community_general():
    """Unpack community.general from the ansible package into .cache/bench (once)."""
    target = CACHE / "collections"
    if (target / "ansible_collections" / "community" / "general").is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(BIN / "pip"), "download", "--quiet", "--no-deps", "-d", str(CACHE), ANSIBLE_PACKAGE], check=True)
    wheel = next(CACHE.glob("ansible-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        members = [name for name in archive.namelist() if name.startswith("ansible_collections/community/general/")]
        archive.extractall(target, members)
    return target


def playbook(work, text, extra, collections):
    path = work / "play.yml"
    path.write_text(text)
    variables = work / "vars.json"
    variables.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    start = time.perf_counter()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path), "-e", "@%s" % variables],
                            env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit("playbook failed:\n%s\n%s" % (result.stdout[-3000:], result.stderr[-2000:]))
    return seconds, sum(int(number) for number in re.findall(r"changed=(\d+)", result.stdout))


def nsupdate_records(zones):
    """One item per record, address records first (BIND refuses an MX whose target has no address yet)."""
    records = []
    for zone in zones:
        for record_set in sorted(layout_record_sets(layout(zone), zone), key=lambda record_set: record_set["type"] == "MX"):
            for value in record_set["values"]:
                records.append({"zone": zone, "record": record_set["name"], "type": record_set["type"], "value": value})
    return records


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--nsupdate-zones", type=int, default=10)
    args = parser.parse_args()
    zones = ["z%04d.test." % number for number in range(args.zones)]
    ours_collections = str(ROOT / ".cache" / "collections")
    with tempfile.TemporaryDirectory(prefix="mailsec-bench-dns-") as directory:
        work = pathlib.Path(directory)
        started = time.perf_counter()
        server = servers.start_bind(work / "bind", zones)
        print("BIND with %d zones up in %.1f s" % (len(zones), time.perf_counter() - started))
        try:
            connection = {"dns_port": server.port, "key_name": server.key_name, "key_secret": server.key_secret}
            payload = dict(connection, bench_zones=[{"zone": zone, "record_sets": layout_record_sets(layout(zone), zone)} for zone in zones])
            converge, changed = playbook(work, OURS, payload, ours_collections)
            rerun, rerun_changed = playbook(work, OURS, payload, ours_collections)
            last = zones[-1]
            mx = server.query(last, "MX")
            print("mailsec.mx.rfc2136_record_set, zones: form   %5d zones: %6.1f s (%6.1f zones/s), rerun %5.1f s (changed=%d); "
                  "%s MX: %d values" % (len(zones), converge, len(zones) / converge, rerun, rerun_changed, last, len(mx)))

            subset = ["n%04d.test." % number for number in range(args.nsupdate_zones)]
            server.stop()
            server = servers.start_bind(work / "bind-nsupdate", subset)
            connection = {"dns_port": server.port, "key_name": server.key_name, "key_secret": server.key_secret,
                          "bench_records": nsupdate_records(subset)}
            collections = "%s:%s" % (community_general(), ours_collections)
            theirs, dummy = playbook(work, NSUPDATE, connection, collections)
            again, again_changed = playbook(work, NSUPDATE, connection, collections)
            mx = server.query(subset[0], "MX")
            print("community.general.nsupdate, record per task  %5d zones: %6.1f s (%6.1f zones/s), rerun %5.1f s (changed=%d); "
                  "%s MX: %d of 4 values survive" % (len(subset), theirs, len(subset) / theirs, again, again_changed, subset[0], len(mx)))
            print("zones per second, ours / nsupdate: %.0fx" % ((len(zones) / converge) / (len(subset) / theirs)))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
