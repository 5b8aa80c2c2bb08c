"""Benchmark: the nolisting audit's join at scale, against the same join written as a Jinja loop.

Prints, in one run, for 1,000, 10,000 and 100,000 refused sources and as many arrivals (half of the refused
sources retried):
- the role's join (`mailsec.mx.mx_audit` role, entry point main: one module call) through ansible-playbook, with
  the default 1,000 reverse look-ups against a local BIND (all NXDOMAIN) and the JSON report and candidates written
  (goal: 100,000 + 100,000 under 10 s);
- the same in Python alone (`_audit.join`, no Ansible), the floor;
- what a playbook does without the module: one set_fact whose Jinja loop joins per source through a dict of
  arrivals (1,000 and 10,000 only at first; 100,000 too unless it already took over a minute at 10,000).
Sources are data only (198.18.0.0/15, the benchmarking range): nothing is sent to them.
"""

import ipaddress
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position

from ansible_collections.mailsec.mx.plugins.module_utils import _audit  # noqa: E402
from tests.integration.dns import servers  # noqa: E402

BIN = pathlib.Path(sys.executable).parent
T = 1_780_000_000.0
FIRST = int(ipaddress.ip_address("198.18.0.0"))
REVERSE_ZONES = ["18.198.in-addr.arpa.", "19.198.in-addr.arpa."]

JINJA_PLAY = """
- hosts: localhost
  gather_facts: false
  vars_files: [sources-dead.json, sources-mx1.json]
  tasks:
    - name: Join in Jinja, per source, through a dict of arrivals
      ansible.builtin.set_fact:
        joined: >-
          {%- set arrived = dict(bench_mx1 | map(attribute='source')
                                 | zip(bench_mx1)) -%}
          {%- set out = [] -%}
          {%- for item in bench_dead -%}
          {%-   set hit = arrived.get(item.source) -%}
          {%-   set retried = hit is not none and hit.last_seen >= item.first_seen - 2 and hit.first_seen <= item.last_seen + 3600 -%}
          {%-   set _ = out.append({'source': item.source, 'verdict': 'retried' if retried else 'gave_up',
                                   'refused': item.count, 'first_seen': item.first_seen, 'last_seen': item.last_seen,
                                   'days': item.days}) -%}
          {%- endfor -%}
          {{ out }}
    - name: Count
      ansible.builtin.debug:
        msg: "{{ joined | selectattr('verdict', '==', 'retried') | list | length }} retried"
"""

ROLE_PLAY = """
- hosts: localhost
  gather_facts: false
  roles:
    - role: mailsec.mx.mx_audit
"""


def sides(count):
    refused, arrived = [], []
    for number in range(count):
        source = str(ipaddress.ip_address(FIRST + number))
        refused.append({"source": source, "first_seen": T + number % 3600, "last_seen": T + number % 3600 + 60,
                        "count": 1 + number % 7, "days": 1 + number % 3})
        if number % 2 == 0:
            arrived.append({"source": source, "first_seen": T + number % 3600 + 0.2, "last_seen": T + number % 3600 + 60.2,
                            "count": 1 + number % 7})
        else:  # as many arrivals as refusals: the other half from senders that were never refused
            arrived.append({"source": str(ipaddress.ip_address(FIRST + count + number)), "first_seen": T, "last_seen": T, "count": 1})
    return ({"host": "dead", "present": True, "sources": refused}, {"host": "mx1", "present": True, "sources": arrived})


def write_inventory(workdir, refused, arrived):
    """What the read entry point leaves on each host (the compact table), and the list for the Jinja join."""
    (workdir / "host_vars").mkdir(exist_ok=True)
    for host, value in (("dead", refused), ("mx1", arrived)):
        read = {"host": host, "present": True, "table": _audit.render_table(value["sources"])}
        fact = "mx_audit_read_dead_primary" if host == "dead" else "mx_audit_read_mx_live"
        (workdir / "host_vars" / ("%s.json" % host)).write_text(json.dumps({fact: read}), encoding="utf-8")
        # What a playbook without the compact table would hold: the list, for the Jinja join only.
        (workdir / ("sources-%s.json" % host)).write_text(json.dumps({"bench_%s" % host: value["sources"]}), encoding="utf-8")
    python = sys.executable
    (workdir / "inventory.ini").write_text(
        "localhost ansible_connection=local ansible_python_interpreter=%s\n[dead_primary]\ndead\n[mx_live]\nmx1\n" % python,
        encoding="utf-8")


def run_playbook(workdir, text, *extra):
    (workdir / "play.yml").write_text(text, encoding="utf-8")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_PIPELINING="1")
    command = [str(BIN / "ansible-playbook"), "-i", str(workdir / "inventory.ini"), str(workdir / "play.yml"), *extra]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit("playbook failed:\n" + result.stdout[-3000:] + result.stderr[-3000:])
    return seconds, result.stdout


def main():
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        workdir = pathlib.Path(tmp)
        bind = servers.start_bind(workdir / "bind", REVERSE_ZONES)
        try:
            jinja_too_slow = False
            for count in (1000, 10000, 100000):
                refused, arrived = sides(count)
                start = time.perf_counter()
                report = _audit.join([refused], [arrived])
                python_seconds = time.perf_counter() - start
                retried = sum(1 for item in report if item["verdict"] == "retried")
                write_inventory(workdir, refused, arrived)
                role_seconds, output = run_playbook(
                    workdir, ROLE_PLAY, "-e", json.dumps({
                        "mx_audit_resolvers": [servers.ADDRESS], "mx_audit_resolver_port": bind.port,
                        "mx_audit_report_path": str(workdir / "audit.json"),
                        "mx_audit_candidates_path": str(workdir / "candidates.txt")}))
                document = json.loads((workdir / "audit.json").read_text(encoding="utf-8"))
                if document["summary"]["retried"] != retried or retried != count // 2:
                    raise SystemExit("the role found %d retried, Python %d, expected %d" % (document["summary"]["retried"], retried, count // 2))
                jinja_seconds = None
                if not jinja_too_slow:
                    jinja_seconds, output = run_playbook(workdir, JINJA_PLAY)
                    if '"%d retried"' % (count // 2) not in output:
                        raise SystemExit("the Jinja join disagrees:\n" + output[-2000:])
                    jinja_too_slow = jinja_seconds > 60
                rows.append((count, python_seconds, role_seconds, jinja_seconds))
                print("%7d refused + %7d arrivals: _audit.join %6.2f s, role (one module call, 1,000 PTR look-ups) %6.2f s, "
                      "Jinja loop %s" % (count, count, python_seconds, role_seconds,
                                         "%6.2f s" % jinja_seconds if jinja_seconds is not None else "not run (over 60 s at the size before)"))
        finally:
            bind.stop()
    count, dummy, role_seconds, jinja_seconds = rows[-1]
    print("\n100,000 + 100,000 through the role: %.1f s (goal: under 10 s)%s" % (
        role_seconds, "; the Jinja loop: %.1f s (%.0fx)" % (jinja_seconds, jinja_seconds / role_seconds) if jinja_seconds else ""))


if __name__ == "__main__":
    main()
