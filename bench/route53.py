"""Benchmark: publish the demo MX layout in 1,000 Route 53 hosted zones, against amazon.aws.route53 with one RRset per
task, in one run, both on moto's Route 53 in server mode on 127.0.0.1 (no AWS account here).

Each zone gets the demo layout: an MX RRset with 3 targets (a dead primary, the live host, a backstop) and the A and
AAAA RRsets of each target, 7 RRsets in all.

Ours: ``mailsec.mx.route53_record_set`` with ``zones:`` (one change batch per zone), its main() called in-process
(what the module itself costs), then the same through ansible-playbook (what a user waits for); each run followed by
a rerun that must change nothing.
Theirs: ``amazon.aws.route53``, one task item per RRset (``overwrite: true``, 7 per zone), for a subset of zones on a
moto holding only those zones (its zone lookup lists every hosted zone of the account, so it would pay more with
1,000); the per-zone time is extrapolated to the full count, and the table says so. amazon.aws is not on Galaxy here:
it ships inside the ``ansible`` package on PyPI, which is downloaded and unpacked into .cache/bench-collections on first
use (bench-only dependency). When that fails, the bench says why and prints the rest.

moto answers at once and has no rate limit: real Route 53 takes 5 requests per second per account, so there the
request count per zone (printed) is what decides the time.

Usage: .venv/bin/python -m bench.route53 [--zones 1000] [--amazon-zones 20]
"""

import argparse
import contextlib
import io
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
CACHE = ROOT / ".cache" / "bench-collections"
ANSIBLE_PACKAGE = "ansible==12.3.0"  # the release that goes with ansible-core 2.19
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".cache" / "collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_record_sets  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mailsec.mx.plugins.module_utils._route53 import Route53Provider  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mailsec.mx.plugins.modules import route53_record_set  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration import moto_server  # noqa: E402  pylint: disable=wrong-import-position

TTL = 3600


def layout(zone):
    return [
        {"preference": 10, "host": "nolist." + zone, "role": "dead", "addresses": ["203.0.113.10", "2001:db8::10"]},
        {"preference": 20, "host": "mail." + zone, "role": "live", "addresses": ["203.0.113.20", "2001:db8::20"]},
        {"preference": 30, "host": "backstop." + zone, "role": "backstop", "addresses": ["203.0.113.20", "2001:db8::20"]},
    ]


def zone_entries(zones):
    return [{"zone": zone, "record_sets": layout_record_sets(layout(zone), zone, ttl=TTL)} for zone in zones]


OURS = """
- name: Publish every zone's layout in one call
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One change batch per zone
      mailsec.mx.route53_record_set:
        endpoint_url: "{{ endpoint_url }}"
        access_key: "{{ access_key }}"
        secret_key: "{{ secret_key }}"
        zones: "{{ bench_zones }}"
"""

AMAZON = """
- name: Publish with amazon.aws.route53, one RRset per task item
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One RRset per item
      amazon.aws.route53:
        endpoint_url: "{{ endpoint_url }}"
        access_key: "{{ access_key }}"
        secret_key: "{{ secret_key }}"
        state: present
        zone: "{{ item.zone }}"
        record: "{{ item.name }}"
        type: "{{ item.type }}"
        ttl: "{{ item.ttl }}"
        value: "{{ item['values'] }}"
        overwrite: true
      loop: "{{ bench_rrsets }}"
"""


def amazon_aws():
    """Unpack amazon.aws from the ansible package into .cache/bench-collections (once); (path, None) or (None, why not)."""
    if (CACHE / "ansible_collections" / "amazon" / "aws").is_dir():
        return CACHE, None
    CACHE.mkdir(parents=True, exist_ok=True)
    wheels = sorted(CACHE.glob("ansible-*.whl")) or sorted((ROOT / ".cache" / "bench").glob("ansible-*.whl"))
    if not wheels:
        download = subprocess.run([str(BIN / "pip"), "download", "--quiet", "--no-deps", "-d", str(CACHE), ANSIBLE_PACKAGE],
                                  capture_output=True, text=True, check=False)
        wheels = sorted(CACHE.glob("ansible-*.whl"))
        if download.returncode != 0 or not wheels:
            return None, "pip download %s failed: %s" % (ANSIBLE_PACKAGE, (download.stderr or download.stdout).strip()[-500:])
    with zipfile.ZipFile(wheels[-1]) as archive:
        members = [name for name in archive.namelist() if name.startswith("ansible_collections/amazon/aws/")]
        if not members:
            return None, "%s holds no ansible_collections/amazon/aws" % wheels[-1].name
        archive.extractall(CACHE, members)
    return CACHE, None


class Counter:
    """Counts the provider's Route 53 requests by operation (main() in-process only)."""

    def __init__(self):
        self.counts = {}
        self.original = Route53Provider._call  # pylint: disable=protected-access

    def __enter__(self):
        counter = self

        def call(provider, operation, **params):
            counter.counts[operation] = counter.counts.get(operation, 0) + 1
            return counter.original(provider, operation, **params)

        Route53Provider._call = call  # pylint: disable=protected-access
        return self

    def __exit__(self, *exc):
        Route53Provider._call = self.original  # pylint: disable=protected-access

    def total(self):
        return sum(self.counts.values())


def run_main(args):
    """route53_record_set.main() in-process; (seconds, result)."""
    output = io.StringIO()
    start = time.perf_counter()
    with patch_module_args(args), contextlib.redirect_stdout(output):
        try:
            route53_record_set.main()
        except SystemExit:
            pass
    seconds = time.perf_counter() - start
    result = json.loads(output.getvalue())
    if result.get("failed"):
        raise SystemExit("route53_record_set failed: %s" % result.get("msg"))
    return seconds, result


def playbook(work, text, extra, collections):
    path = work / "play.yml"
    path.write_text(text)
    variables = work / "vars.json"
    variables.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections, ANSIBLE_STDOUT_CALLBACK="default", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, AWS_EC2_METADATA_DISABLED="true",
               AWS_DEFAULT_REGION="us-east-1")  # amazon.aws.route53's own region option is the latency-routing one
    start = time.perf_counter()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path), "-e", "@%s" % variables],
                            env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit("playbook failed:\n%s\n%s" % (result.stdout[-3000:], result.stderr[-2000:]))
    return seconds, sum(int(number) for number in re.findall(r"changed=(\d+)", result.stdout))


def create_zones(server, zones):
    server.reset()
    start = time.perf_counter()
    ids = [moto_server.create_zone(server, zone) for zone in zones]
    return ids, time.perf_counter() - start


def check_published(server, zone_id, zone):
    records = moto_server.records(server, zone_id)
    wanted = {(record_set["name"], record_set["type"]): sorted(record_set["values"]) for record_set in layout_record_sets(layout(zone), zone, ttl=TTL)}
    missing = {key: values for key, values in wanted.items() if records.get(key) != values}
    if missing:
        raise SystemExit("%s does not hold the layout: %r" % (zone, missing))


def row(what, zones, first, rerun, changed, requests=None, note=""):
    per_zone = first / zones * 1000
    shown = "%.1f" % requests if requests is not None else "-"
    print("%-52s %6d %9.1f s %9.1f s (%4d) %9.1f ms %9s  %s" % (what, zones, first, rerun, changed, per_zone, shown, note))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--amazon-zones", type=int, default=20)
    args = parser.parse_args()
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"  # credentials are given; boto3 must never look for an instance role
    zones = ["z%04d.test." % number for number in range(args.zones)]
    ours_collections = str(ROOT / ".cache" / "collections")
    with tempfile.TemporaryDirectory(prefix="mailsec-bench-route53-") as directory:
        work = pathlib.Path(directory)
        server = moto_server.start_moto(work / "moto")
        try:
            connection = {"endpoint_url": server.endpoint_url, "access_key": server.access_key, "secret_key": server.secret_key}
            print("moto (Route 53 stand-in) on %s, up in %.1f s; %d zones x 7 RRsets (MX with 3 targets, A/AAAA each)"
                  % (server.endpoint_url, server.startup_seconds, len(zones)))
            print("%-52s %6s %11s %18s %12s %9s" % ("", "zones", "first run", "rerun (changed)", "first/zone", "req/zone"))

            ids, seconds = create_zones(server, zones)
            print("(creating %d empty hosted zones in moto: %.1f s)" % (len(zones), seconds))
            with Counter() as counter:
                first, result = run_main(dict(connection, zones=zone_entries(zones)))
                first_requests = counter.total()
            with Counter() as counter:
                rerun, again = run_main(dict(connection, zones=zone_entries(zones)))
                rerun_requests = counter.total()
            check_published(server, ids[-1], zones[-1])
            changed = sum(1 for entry in again["zones"] if entry["changed"])
            row("mailsec.mx.route53_record_set, main() in-process", len(zones), first, rerun, changed, first_requests / len(zones),
                "rerun %.1f req/zone; %d zones changed on the first run" % (rerun_requests / len(zones), sum(e["changed"] for e in result["zones"])))

            ids, seconds = create_zones(server, zones)
            payload = dict(connection, bench_zones=zone_entries(zones))
            first, changed_first = playbook(work, OURS, payload, ours_collections)
            rerun, changed_rerun = playbook(work, OURS, payload, ours_collections)
            ours_per_zone = first / len(zones)
            check_published(server, ids[0], zones[0])
            row("mailsec.mx.route53_record_set, ansible-playbook", len(zones), first, rerun, changed_rerun, None,
                "one task (changed=%d on the first run)" % changed_first)

            collections, why_not = amazon_aws()
            if collections is None:
                print("amazon.aws.route53: not run - %s" % why_not)
                return
            subset = ["a%04d.test." % number for number in range(args.amazon_zones)]
            ids, seconds = create_zones(server, subset)
            rrsets = [dict(record_set, zone=zone.rstrip(".")) for zone in subset for record_set in layout_record_sets(layout(zone), zone, ttl=TTL)]
            payload = dict(connection, bench_rrsets=rrsets)
            path = "%s:%s" % (collections, ours_collections)
            first, changed_first = playbook(work, AMAZON, payload, path)
            rerun, changed_rerun = playbook(work, AMAZON, payload, path)
            check_published(server, ids[0], subset[0])
            per_zone = first / len(subset)
            row("amazon.aws.route53, one RRset per task", len(subset), first, rerun, changed_rerun, None,
                "%d tasks; for %d zones: ~%.0f s first run, ~%.0f s rerun (extrapolated per zone)"
                % (len(rrsets), len(zones), per_zone * len(zones), rerun / len(subset) * len(zones)))
            print("per zone, first run through ansible-playbook: amazon.aws.route53 / route53_record_set = %.0fx" % (per_zone / ours_per_zone))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
