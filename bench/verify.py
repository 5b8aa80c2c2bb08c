"""Benchmark: mx_verify over 10,000 domains that share one set of MX hosts, against one module call per domain.

A real BIND serves 10,000 zones (d00000.test. ...) whose MX RRsets all point at the hosts of provider.test.
(a dead primary, two live MXes, a trap), and real listeners stand in for the MX hosts: greeters on the live and trap
addresses, nothing on the dead primary's (so it answers with a reset). Everything runs in a network namespace of its
own (lab.netns), where the MX addresses (198.51.100.x) sit on ``lo`` and BIND on 127.0.0.1.

Prints, in one run:
- the many-domain form (``domains:``) in-process (the module's main(), JSON output included), split into the
  entry checks, the DNS lookups (pipelined) and the rest;
- the same through ansible-playbook, next to a play that only counts the domains (the floor): one module task, and
  the mx_verify role (summary shown, JSON report written); wall time and the CPU time of ansible-playbook and its
  module, steadier than wall time on a busy machine;
- today's path, one module call per domain, measured on a sample (default 100 domains) in-process and through
  ansible-playbook (a loop), and extrapolated to every domain (said so);
- for comparison, the DNS lookups one query per TCP connection (today's Lookup) instead of pipelined.

Goal (issue 15): 10,000 domains in under 60 s as one module call.
Usage: .venv/bin/python -m bench.verify [--domains 10000] [--sample 100]   (root: network namespace, port 25)
"""

import argparse
import contextlib
import io
import json
import os
import pathlib
import re
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / ".cache" / "collections"))

from ansible.module_utils.testing import patch_module_args  # noqa: E402  pylint: disable=wrong-import-position

from lab.netns import Namespace  # noqa: E402  pylint: disable=wrong-import-position
from tests.integration.dns import servers  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mailsec.mx.plugins.module_utils import _verify_domains  # noqa: E402  pylint: disable=wrong-import-position
from ansible_collections.mailsec.mx.plugins.modules import mx_verify  # noqa: E402  pylint: disable=wrong-import-position

INSIDE = "MAILSEC_BENCH_VERIFY_NETNS"
PROVIDER = "provider.test."
DEAD, MX1, MX2, TRAP = "198.51.100.10", "198.51.100.20", "198.51.100.21", "198.51.100.90"
LAYOUT = [
    {"preference": 10, "host": "nolist.provider.test", "role": "dead", "addresses": [DEAD]},
    {"preference": 20, "host": "mx1.provider.test", "addresses": [MX1]},
    {"preference": 30, "host": "mx2.provider.test", "addresses": [MX2]},
    {"preference": 90, "host": "trap.provider.test", "role": "trap", "addresses": [TRAP]},
]


def zone_names(count):
    return ["d%05d.test." % number for number in range(count)]


def zone_texts(zones):
    """Each customer zone with the shared MX RRset; provider.test. with the hosts' addresses."""
    mx = "".join("@ IN MX %d %s.\n" % (record["preference"], record["host"]) for record in LAYOUT)
    texts = {zone: "$ORIGIN %s\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\nns IN A %s\n%s"
             % (zone, servers.NS_ADDRESS, mx) for zone in zones}
    hosts = "".join("%s IN A %s\n" % (record["host"].split(".", maxsplit=1)[0], record["addresses"][0]) for record in LAYOUT)
    texts[PROVIDER] = "$ORIGIN %s\n$TTL 300\n@ IN SOA ns hostmaster 1 3600 600 86400 300\n@ IN NS ns\nns IN A %s\n%s" % (
        PROVIDER, servers.NS_ADDRESS, hosts)
    return texts


class Greeters:
    """A greeter on port 25 of each address, in threads of this process; counts the connections it accepted."""

    def __init__(self, addresses):
        self.connections = 0
        self.listeners = []
        for address in addresses:
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((address, 25))
            listener.listen(64)
            self.listeners.append(listener)
        self.threads = [threading.Thread(target=self.serve, args=(listener,), daemon=True) for listener in self.listeners]
        for thread in self.threads:
            thread.start()

    def serve(self, listener):
        while True:
            try:
                connection, dummy = listener.accept()
            except OSError:
                return
            with connection:
                self.connections += 1
                connection.sendall(b"220 mx.provider.test ESMTP\r\n")
                connection.settimeout(5)
                with contextlib.suppress(OSError):
                    connection.recv(64)

    def close(self):
        for listener in self.listeners:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for thread in self.threads:
            thread.join(timeout=10)


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def module_main(args):
    """mx_verify's main() in-process with ``args``; its JSON result."""
    output = io.StringIO()
    with patch_module_args(args), contextlib.redirect_stdout(output):
        try:
            mx_verify.main()
        except SystemExit:
            pass
    return json.loads(output.getvalue())


# The zones come in as extra vars; each entry gets its layout in the play, as harden_mx.yml's filter fills them in
# (an extra-vars file of 10,000 layouts would time Ansible's YAML loader instead).
MODULE_PLAY = """
- name: Verify every domain in one module call
  hosts: localhost
  gather_facts: false
  vars:
    bench_filled: "{{ bench_domains | map('combine', {'layout': bench_layout}) | list }}"
  tasks:
    - name: All domains at once
      mailsec.mx.mx_verify:
        layout: "{{ bench_layout }}"
        domains: "{{ bench_filled }}"
        nameservers: [127.0.0.1]
        port: "{{ bench_port }}"
      register: bench_result

    - name: The summary
      ansible.builtin.debug:
        msg: "{{ bench_result.table }}"
"""

ROLE_PLAY = """
- name: Verify every domain through the role
  hosts: localhost
  gather_facts: false
  vars:
    bench_filled: "{{ bench_domains | map('combine', {'layout': bench_layout}) | list }}"
  roles:
    - role: mailsec.mx.mx_verify
      vars:
        mx_verify_layout: "{{ bench_layout }}"
        mx_verify_domains: "{{ bench_filled }}"
        mx_verify_nameservers: [127.0.0.1]
        mx_verify_port: "{{ bench_port }}"
        mx_verify_report_path: "{{ bench_report }}"
"""

FLOOR_PLAY = """
- name: Only count the domains (what ansible-playbook costs before any verification)
  hosts: localhost
  gather_facts: false
  vars:
    bench_filled: "{{ bench_domains | map('combine', {'layout': bench_layout}) | list }}"
  tasks:
    - name: Count
      ansible.builtin.debug:
        msg: "{{ bench_filled | length }}"
"""

LOOP_PLAY = """
- name: Verify each domain with a module call of its own (the one-domain form)
  hosts: localhost
  gather_facts: false
  tasks:
    - name: One domain per item
      mailsec.mx.mx_verify:
        layout: "{{ bench_layout }}"
        zone: "{{ item.zone }}"
        nameservers: [127.0.0.1]
        port: "{{ bench_port }}"
      loop: "{{ bench_domains }}"
"""


def playbook(work, name, text, extra):
    """Run the play; (wall seconds, CPU seconds of ansible-playbook and its children, output)."""
    path = work / ("%s.yml" % name)
    path.write_text(text)
    variables = work / ("%s.json" % name)
    variables.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_FORCE_COLOR="0", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(path), "-e", "@%s" % variables]
    before = cpu_of_children()
    seconds, result = timed(lambda: subprocess.run(command, env=env, cwd=work, capture_output=True, text=True, check=False))
    if result.returncode != 0 or not re.search(r"failed=0 ", result.stdout):
        raise SystemExit("%s failed:\n%s\n%s" % (name, result.stdout[-3000:], result.stderr[-2000:]))
    return seconds, cpu_of_children() - before, result.stdout


def cpu_of_children():
    """CPU seconds of the processes this one waited for: on a busy machine a steadier figure than wall time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_of_self():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench(arguments):
    zones = zone_names(arguments.domains)
    # As the role gets them from the playbook: every entry with its layout filled in.
    domains = [{"zone": zone, "layout": LAYOUT} for zone in zones]
    sample = [{"zone": zone} for zone in zones[:arguments.sample]]
    scale = len(zones) / len(sample)
    with tempfile.TemporaryDirectory() as workdir:
        work = pathlib.Path(workdir)
        start_seconds, server = timed(lambda: servers.start_bind(work / "bind", zones + [PROVIDER], zone_texts=zone_texts(zones)))
        greeters = Greeters([MX1, MX2, TRAP])
        try:
            print("BIND serving %d zones (started in %.1f s); MX hosts: dead %s (reset), live %s and %s, trap %s (greeters)"
                  % (len(zones) + 1, start_seconds, DEAD, MX1, MX2, TRAP))
            common = {"layout": LAYOUT, "nameservers": [server.address], "port": server.port, "timeout": 5.0}

            print("\nMany-domain form, in-process (%d domains, each with its layout, one call):" % len(zones))
            before, cpu = greeters.connections, cpu_of_self()
            seconds, result = timed(lambda: module_main(dict(common, domains=domains)))
            cpu = cpu_of_self() - cpu
            assert result.get("ok") is True and len(result["domains_ok"]) == len(zones), result.get("msg", "")[:2000]
            print("  module main(), JSON output included: %.2f s (CPU %.2f s), %d probes (%d connections accepted by the greeters)"
                  % (seconds, cpu, len(result["probes"]), greeters.connections - before))
            checked_seconds, checked = timed(lambda: _verify_domains.check_domains(domains, LAYOUT))
            asked = _verify_domains.questions(checked)
            pipelined_seconds, answers = timed(lambda: _verify_domains.PipelinedLookup([server.address], server.port, 5.0).answer_all(asked))
            checks_seconds, dummy = timed(lambda: _verify_domains.verify_domains(checked, answers))
            print("  of which: entries checked %.2f s; %d DNS questions pipelined on one connection %.2f s; checks %.2f s;"
                  " the rest is AnsibleModule's argument and result handling" % (checked_seconds, len(asked), pipelined_seconds, checks_seconds))
            lookup = mx_verify.Lookup([server.address], server.port, 5.0)
            one_by_one, dummy = timed(lambda: [lookup.values(name, rtype) for name, rtype in asked])
            print("  the same questions one TCP connection and one full parse each (today's Lookup): %.2f s" % one_by_one)
            print("  summary:\n    " + "\n    ".join(result["table"]))

            print("\nToday's path, one module call per domain, in-process (%d domains measured, x%.0f extrapolated):" % (len(sample), scale))
            seconds, dummy = timed(lambda: [module_main(dict(common, zone=entry["zone"])) for entry in sample])
            print("  %d calls: %.2f s -> %d domains: about %.0f s (extrapolated)" % (len(sample), seconds, len(zones), seconds * scale))

            extra = {"bench_layout": LAYOUT, "bench_domains": [{"zone": zone} for zone in zones], "bench_port": server.port,
                     "bench_report": str(work / "report.json")}
            print("\nThrough ansible-playbook (wall, and CPU of ansible-playbook and its module):")
            seconds, cpu, dummy = playbook(work, "floor", FLOOR_PLAY, extra)
            print("  floor, a play that only counts the %d domains: %.2f s (CPU %.2f s)" % (len(zones), seconds, cpu))
            seconds, cpu, dummy = playbook(work, "module", MODULE_PLAY, extra)
            print("  one mx_verify task, %d domains: %.2f s (CPU %.2f s)   (goal: < 60 s)" % (len(zones), seconds, cpu))
            seconds, cpu, dummy = playbook(work, "role", ROLE_PLAY, extra)
            report = json.loads((work / "report.json").read_text())
            assert len(report["domains"]) == len(zones) and report["ok"] is True
            print("  role mx_verify (summary shown, %.1f MB JSON report), %d domains: %.2f s (CPU %.2f s)"
                  % ((work / "report.json").stat().st_size / 1e6, len(zones), seconds, cpu))
            seconds, cpu, dummy = playbook(work, "loop", LOOP_PLAY, dict(extra, bench_domains=sample))
            print("  today's path, a loop of one-domain module calls, %d domains: %.2f s (CPU %.2f s) -> %d domains: about %.0f s"
                  " (extrapolated)" % (len(sample), seconds, cpu, len(zones), seconds * scale))
        finally:
            greeters.close()
            server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--domains", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=100, help="domains measured for today's path (extrapolated)")
    arguments = parser.parse_args()
    if os.environ.get(INSIDE) == "1":
        bench(arguments)
        return
    # The MX addresses on lo of a namespace of our own: never on an interface of the machine.
    with Namespace("mxverifybench", addresses=[DEAD, MX1, MX2, TRAP]) as namespace:
        command = namespace.command([sys.executable, "-m", "bench.verify", *sys.argv[1:]])
        result = subprocess.run(command, cwd=ROOT, env=dict(os.environ, **{INSIDE: "1"}), check=False)
    sys.exit(result.returncode)


if __name__ == "__main__":
    main()
