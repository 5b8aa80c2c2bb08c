"""Benchmark: the dead_primary role at 10, 1,000 and 100,000 allowlist entries, against an
``ansible.builtin.iptables`` loop a user would write instead, in one run (root; builds its own lab).

Prints, per size: converge and no-op rerun of the role (nftables and iptables backends), the same
allowlist applied by a loop of ``ansible.builtin.iptables`` (up to 1,000 entries), and the ratio.
Then the order problem of that loop (an entry added later lands after the final REJECT) next to
ours, and TCP connects per second to the dead address with each ruleset (the packet path).

Usage: make bench   (or: .venv/bin/python bench/dead_primary.py [--sizes 10,1000,100000] [--naive-max 1000])
Goal (issue 3): 100,000 entries converge in under 10 s and rerun in under 5 s.
"""

import argparse
import json
import os
import pathlib
import random
import re
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
BIN = pathlib.Path(sys.executable).parent
LAB = "bench"
DEAD = "198.51.100.140"
FW_HOST = {"name": "fw", "addresses": ["198.51.100.130/25", "2001:db8:bb::130/64"]}
CLIENT_HOST = {"name": "client", "addresses": ["198.51.100.131/25", "198.51.100.132/25", "2001:db8:bb::131/64"]}
# A source the bench adds to the allowlist late, to show where each approach puts it.
LATE_SOURCE = "198.51.100.132"


def allow_entries(count, seed=25):
    """``count`` distinct, non-adjacent networks (v4 /24 and /32, v6 /48): nothing merges away."""
    rng = random.Random(seed)
    entries, seen = [], set()
    while len(entries) < count:
        kind = len(entries) % 3
        if kind == 0:
            entry = "%d.%d.%d.0/24" % (rng.randrange(1, 100) * 2, rng.randrange(256), rng.randrange(0, 256, 2))
        elif kind == 1:
            entry = "%d.%d.%d.%d" % (rng.randrange(100, 110) * 2, rng.randrange(256), rng.randrange(256), rng.randrange(0, 256, 2))
        else:
            entry = "2001:db8:%x:%x::/64" % (rng.randrange(0x100, 0x10000), rng.randrange(0, 0x10000, 2))
        if entry not in seen:
            seen.add(entry)
            entries.append(entry)
    return entries


class Lab:
    def __init__(self, work):
        self.state = work / "lab"
        spec = {"name": LAB, "bridge_addresses": ["198.51.100.129/25", "2001:db8:bb::129/64"], "hosts": [FW_HOST, CLIENT_HOST]}
        (work / "lab-spec.json").write_text(json.dumps(spec))
        subprocess.run([sys.executable, "-m", "lab.mxlab", "up", str(work / "lab-spec.json"),
                        "--state-dir", str(self.state)], cwd=ROOT, check=True, capture_output=True)
        self.inventory = self.state / "inventory.yml"

    def exec(self, host, *command, check=True):
        return subprocess.run([sys.executable, "-m", "lab.mxlab", "exec", "--state-dir", str(self.state), host, "--"]
                              + list(command), cwd=ROOT, check=check, capture_output=True, text=True)

    def down(self):
        subprocess.run([sys.executable, "-m", "lab.mxlab", "down", "--state-dir", str(self.state), "--name", LAB],
                       cwd=ROOT, check=False, capture_output=True)


def playbook(lab, path, extra=None):
    """Run a playbook; return (seconds, changed count)."""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="default",
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PIPELINING="True")
    command = [str(BIN / "ansible-playbook"), "-i", str(lab.inventory), str(path)]
    for key, value in (extra or {}).items():
        command += ["-e", json.dumps({key: value})]
    start = time.perf_counter()
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit("%s failed:\n%s\n%s" % (path.name, result.stdout[-4000:], result.stderr[-2000:]))
    changed = sum(int(number) for number in re.findall(r"changed=(\d+)", result.stdout))
    return seconds, changed


ROLE_PLAY = """
- name: Dead primary with the role
  hosts: fw
  gather_facts: false
  roles:
    - role: mailsec.mx.dead_primary
      vars:
        dead_primary_addresses: [%s]
        dead_primary_interface: eth0
        dead_primary_backend: "{{ backend }}"
        dead_primary_allow_files: ["{{ allow_file }}"]
        dead_primary_manage_packages: false
""" % DEAD

# Keeps the dead address on eth0 (no dead_primary_interface), so the naive loop has it too.
REMOVE_PLAY = """
- name: Remove the role's firewall
  hosts: fw
  gather_facts: false
  roles:
    - role: mailsec.mx.dead_primary
      vars:
        dead_primary_addresses: [%s]
        dead_primary_backend: "{{ backend }}"
        dead_primary_state: absent
""" % DEAD

# What a user writes without the collection: one rule per entry, then the final REJECT.
NAIVE_PLAY = """
- name: Dead primary with an ansible.builtin.iptables loop
  hosts: fw
  gather_facts: false
  tasks:
    - name: Let each allowlisted source through
      ansible.builtin.iptables:
        chain: INPUT
        ip_version: "{{ 'ipv6' if ':' in item else 'ipv4' }}"
        source: "{{ item }}"
        destination: "%s"
        protocol: tcp
        destination_port: "25"
        jump: ACCEPT
      loop: "{{ allow | reject('search', ':') | list }}"
    - name: Reset everyone else
      ansible.builtin.iptables:
        chain: INPUT
        destination: "%s"
        protocol: tcp
        destination_port: "25"
        jump: REJECT
        reject_with: tcp-reset
""" % (DEAD, DEAD)


def connects_per_second(lab, source, seconds=1.5):
    """TCP connects per second from the client to the dead address (each answered by a reset)."""
    code = (
        "import socket,time\n"
        "n=0;end=time.time()+%f\n"
        "while time.time()<end:\n"
        "  s=socket.socket();s.bind(('%s',0))\n"
        "  try: s.connect(('%s',25))\n"
        "  except OSError: pass\n"
        "  s.close();n+=1\n"
        "print(n/%f)\n" % (seconds, source, DEAD, seconds)
    )
    return float(lab.exec("client", "python3", "-c", code).stdout)


def naive_order_problem(lab, work, entries):
    """Add LATE_SOURCE to the naive loop's list and report where its ACCEPT lands."""
    playbook(lab, work / "naive.yml", {"allow": entries + [LATE_SOURCE]})
    rules = lab.exec("fw", "iptables", "-S", "INPUT").stdout.splitlines()
    reject = next(index for index, rule in enumerate(rules) if "REJECT" in rule)
    late = next(index for index, rule in enumerate(rules) if LATE_SOURCE in rule)
    return late, reject


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,1000,100000")
    parser.add_argument("--naive-max", type=int, default=1000)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if os.geteuid() != 0:
        raise SystemExit("bench/dead_primary.py needs root (it builds network namespaces)")
    with tempfile.TemporaryDirectory(prefix="mailsec-bench-") as directory:
        work = pathlib.Path(directory)
        for name, text in (("role.yml", ROLE_PLAY), ("remove.yml", REMOVE_PLAY), ("naive.yml", NAIVE_PLAY)):
            (work / name).write_text(text)
        lab = Lab(work)
        try:
            # A real listener behind port 25, so 'let through' is visible as a connection.
            lab.exec("fw", "python3", str(ROOT / "molecule" / "resources" / "files" / "smtp_listener.py"), "/run/bench-listener.pid")
            run_benchmark(lab, work, sizes, args.naive_max)
        finally:
            lab.down()


def run_benchmark(lab, work, sizes, naive_max):
    print("allowlist   backend     converge   rerun (changed)   naive iptables loop: converge / rerun   naive/role: converge / rerun")
    figures = {}
    for size in sizes:
        entries = allow_entries(size)
        allow_file = work / ("allow-%d.txt" % size)
        allow_file.write_text("# bench allowlist\n" + "\n".join(entries) + "\n")
        for backend in ("nftables", "iptables"):
            extra = {"backend": backend, "allow_file": str(allow_file)}
            converge, dummy = playbook(lab, work / "role.yml", extra)
            rerun, changed = playbook(lab, work / "role.yml", extra)
            figures[(size, backend)] = (converge, rerun)
            if size == max(sizes) and backend == "nftables":
                figures["cps_set"] = (size, connects_per_second(lab, "198.51.100.131"))
            playbook(lab, work / "remove.yml", {"backend": backend})
            naive = ""
            if backend == "iptables" and size <= naive_max:
                ipv4 = [entry for entry in entries if ":" not in entry]
                naive_converge, dummy = playbook(lab, work / "naive.yml", {"allow": ipv4})
                naive_rerun, dummy = playbook(lab, work / "naive.yml", {"allow": ipv4})
                figures["cps_linear_%d" % len(ipv4)] = connects_per_second(lab, "198.51.100.131")
                late, reject = naive_order_problem(lab, work, ipv4)
                figures["order"] = (late, reject)
                lab.exec("fw", "iptables", "-F", "INPUT")
                naive = "%6.1f s / %6.1f s  (%d IPv4 rules)" % (naive_converge, naive_rerun, len(ipv4))
                ratio = "%.0fx / %.0fx" % (naive_converge / converge, naive_rerun / rerun)
            else:
                ratio = ""
            print("%9d   %-9s %7.2f s   %6.2f s (%d)      %-38s %s" % (size, backend, converge, rerun, changed, naive, ratio))
            sys.stdout.flush()
    show_order_and_packet_path(lab, work, figures)


def show_order_and_packet_path(lab, work, figures):
    if "order" in figures:
        late, reject = figures["order"]
        print("\nAn entry added later (%s): naive loop puts its ACCEPT at INPUT rule %d, after the REJECT at rule %d: "
              "it never takes effect." % (LATE_SOURCE, late, reject))
    allow_file = work / "late.txt"
    allow_file.write_text("203.0.113.0/24\n")
    extra = {"backend": "nftables", "allow_file": str(allow_file)}
    playbook(lab, work / "role.yml", extra)
    before = lab.exec("client", "python3", "-c", PROBE % LATE_SOURCE).stdout.strip()
    allow_file.write_text("203.0.113.0/24\n%s\n" % LATE_SOURCE)
    playbook(lab, work / "role.yml", extra)
    after = lab.exec("client", "python3", "-c", PROBE % LATE_SOURCE).stdout.strip()
    print("The role, same entry added later: from %s port 25 was '%s' before, '%s' after (a set has no order)."
          % (LATE_SOURCE, before, after))
    playbook(lab, work / "remove.yml", {"backend": "nftables"})
    print("\nPacket path, TCP connects/s to the dead address from a source not on the list (each one reset):")
    if "cps_set" in figures:
        print("  role, %d-entry allowlist in one set:    %8.0f/s" % figures["cps_set"])
    for key, value in figures.items():
        if isinstance(key, str) and key.startswith("cps_linear_"):
            print("  naive loop, %s linear rules:            %8.0f/s" % (key.rsplit("_", 1)[1], value))


PROBE = (
    "import socket\n"
    "s=socket.socket();s.settimeout(2);s.bind(('%s',0))\n"
    "try:\n"
    "  s.connect(('" + DEAD + "',25));print('connected')\n"
    "except ConnectionRefusedError: print('reset')\n"
    "except OSError as e: print(type(e).__name__)\n"
)


if __name__ == "__main__":
    main()
