"""Benchmark: publish 10,000 zones into one real BIND, a no-op rerun, next to the floor and to the code path before
issue 15, in one run.

The fleet: 10,000 zones sharing one MX layout whose hosts live in another zone (what a hosting provider has), so
each zone gets its MX RRset; plus the heavier shape of bench/mx_records.py (each zone's own hosts: 5 RRsets per zone)
in-process.

- ours, playbook: ``ansible-playbook`` with one ``mailsec.mx.rfc2136_record_set`` task, ``domains:`` (10,000
  ``{zone}``) and the shared ``layout`` - what harden-mx.yml's mx_records role runs for ``mx_domains``.
- ours, in-process: the record-set core (converge_zones) with the RFC 2136 provider, queries and UPDATEs pipelined on
  one TCP connection (what the module runs inside the playbook).
- before issue 15: the same provider one zone after the other, one message per TCP connection through dnspython
  (Provider.read_many/apply_many as they were: read, read again, UPDATE), on --before-zones zones, extrapolated.
- the floor: raw UPDATEs to the same server, each adding one TXT record - one per TCP connection with dnspython (what
  issue 15 measured as 630 per second), and pipelined on one connection (the server's own pace).

Usage: .venv/bin/python -m bench.fleet [--zones 10000] [--before-zones 1000]   (from the repository root)
Goals (issue 15): 10,000 zones published in under 30 s, a no-op rerun in under 10 s, through the playbook.
"""

import argparse
import base64
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

import dns.name
import dns.query
import dns.tsig
import dns.update

# tests/conftest.py makes the collection importable as ansible_collections.mailsec.mx.
from tests import conftest  # noqa: F401  pylint: disable=unused-import
# bench/mx_records.py's layout: each zone's own hosts, so 5 RRsets per zone.
from bench import mx_records
from tests.integration.dns import servers
from ansible_collections.mailsec.mx.plugins.module_utils import _dnswire  # noqa: E402  pylint: disable=wrong-import-order
from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_record_sets  # noqa: E402  pylint: disable=wrong-import-order
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (  # noqa: E402  pylint: disable=wrong-import-order
    Provider, converge_zones, parse_record_sets)
from ansible_collections.mailsec.mx.plugins.module_utils._rfc2136 import Rfc2136Provider  # noqa: E402  pylint: disable=wrong-import-order

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
SHARED_LAYOUT = [
    {"preference": 10, "host": "nolist.fleet.test", "role": "dead", "addresses": ["203.0.113.10", "2001:db8::10"]},
    {"preference": 20, "host": "mail.fleet.test", "addresses": ["203.0.113.20"]},
    {"preference": 30, "host": "backup.example.net"},
    {"preference": 90, "host": "backstop.fleet.test", "role": "backstop", "addresses": ["203.0.113.20"]},
]
PLAY = """
- name: Publish every domain's MX layout
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One call, one atomic UPDATE per zone
      mailsec.mx.rfc2136_record_set:
        server: 127.0.0.1
        port: "{{ dns_port }}"
        key_name: "{{ key_name }}"
        key_secret: "{{ key_secret }}"
        layout: "{{ fleet_layout }}"
        domains: "{{ fleet_domains }}"
"""


class OneByOne(Rfc2136Provider):
    """The provider as it was before issue 15: every zone on its own, every message on a connection of its own."""

    read_many = Provider.read_many
    apply_many = Provider.apply_many


def playbook(work, payload):
    (work / "play.yml").write_text(PLAY, encoding="utf-8")
    (work / "vars.json").write_text(json.dumps(payload), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_STDOUT_CALLBACK="default")
    started = time.perf_counter()
    result = subprocess.run([str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(work / "play.yml"),
                             "-e", "@%s" % (work / "vars.json")], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit("playbook failed:\n%s\n%s" % (result.stdout[-3000:], result.stderr[-2000:]))
    return seconds, sum(int(number) for number in re.findall(r"changed=(\d+)", result.stdout))


def in_process(provider_class, server, requests):
    provider = provider_class("127.0.0.1", server.port, "tcp", server.key_name, server.key_secret)
    timings = []
    for dummy in ("publish", "rerun"):
        started = time.perf_counter()
        outcomes = converge_zones(provider, requests, "present", False)
        timings.append(time.perf_counter() - started)
        failed = [outcome for outcome in outcomes if outcome.error is not None]
        if failed:
            raise SystemExit("%s: %d zones failed, first: %s" % (provider_class.__name__, len(failed), failed[0].error))
    provider.finish()
    return timings, sum(1 for outcome in outcomes if outcome.changed)


def floor(server, zones):
    """UPDATEs per second, each adding one TXT record: one per connection (dnspython), and pipelined on one connection."""
    key = dns.tsig.Key(dns.name.from_text(server.key_name), server.key_secret, dns.tsig.HMAC_SHA256)
    started = time.perf_counter()
    for zone in zones[: len(zones) // 2]:
        update = dns.update.UpdateMessage(zone, keyring=key)
        update.add("floor-a", 300, "TXT", '"x"')
        dns.query.tcp(update, "127.0.0.1", port=server.port, timeout=30)
    sequential = (len(zones) // 2) / (time.perf_counter() - started)
    wire_key = _dnswire.Key(server.key_name, base64.b64decode(server.key_secret))
    pipeline = _dnswire.Pipeline("127.0.0.1", server.port, 30)
    messages = []
    for zone in zones[len(zones) // 2:]:
        update = dns.update.UpdateMessage(zone)
        update.add("floor-b", 300, "TXT", '"x"')
        update.id = pipeline.next_id()
        wire, dummy = wire_key.sign(update.to_wire())
        messages.append(_dnswire.Outgoing(wire, update.id, False))
    started = time.perf_counter()
    answers = pipeline.exchange(messages)
    pipelined = len(messages) / (time.perf_counter() - started)
    pipeline.close()
    refused = [answer for answer in answers if not isinstance(answer, bytes) or _dnswire.parse(answer).rcode != 0]
    if refused:
        raise SystemExit("the floor's UPDATEs were refused: %d" % len(refused))
    return sequential, pipelined


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--zones", type=int, default=10000)
    parser.add_argument("--before-zones", type=int, default=1000)
    args = parser.parse_args()
    zones = ["z%05d.test." % number for number in range(args.zones)]
    with tempfile.TemporaryDirectory(prefix="mailsec-bench-fleet-") as directory:
        work = pathlib.Path(directory)
        rows = []
        server = servers.start_bind(work / "bind-playbook", zones)
        try:
            payload = {"dns_port": server.port, "key_name": server.key_name, "key_secret": server.key_secret,
                       "fleet_layout": SHARED_LAYOUT, "fleet_domains": [{"zone": zone} for zone in zones]}
            publish, changed = playbook(work, payload)
            rerun, rerun_changed = playbook(work, payload)
            assert changed == 1 and rerun_changed == 0, (changed, rerun_changed)
            assert len(server.query(zones[-1], "MX")) == 4
            rows.append(("ours, playbook, domains: + shared layout (1 RRset per zone)", args.zones, publish, rerun, ""))
            sequential, pipelined = floor(server, zones)
        finally:
            server.stop()

        requests = [parse_record_sets(layout_record_sets(mx_records.layout(zone), zone), zone) for zone in zones]
        server = servers.start_bind(work / "bind-in-process", zones)
        try:
            (publish, rerun), dummy = in_process(Rfc2136Provider, server, requests)
            rows.append(("ours, in-process, own hosts (5 RRsets per zone)", args.zones, publish, rerun, ""))
        finally:
            server.stop()

        before = requests[: args.before_zones]
        server = servers.start_bind(work / "bind-before", zones[: args.before_zones])
        try:
            (publish, rerun), dummy = in_process(OneByOne, server, before)
            scale = args.zones / len(before)
            rows.append(("before issue 15, in-process, own hosts (5 RRsets per zone)", len(before), publish, rerun,
                         "-> %d zones: %.0f s, rerun %.0f s (extrapolated)" % (args.zones, publish * scale, rerun * scale)))
        finally:
            server.stop()

    print("%-62s %7s %10s %10s" % ("path", "zones", "publish", "no-op"))
    for label, count, publish, rerun, note in rows:
        print("%-62s %7d %9.1fs %9.1fs %s" % (label, count, publish, rerun, note))
    figures = (sequential, args.zones, args.zones / sequential, pipelined, args.zones / pipelined)
    print("floor, raw UPDATEs to the same BIND: %.0f/s one per connection (dnspython) -> %d zones: %.1f s; "
          "%.0f/s pipelined on one connection -> %.1f s" % figures)


if __name__ == "__main__":
    main()
