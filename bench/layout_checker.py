"""Benchmark: the MX layout checker at scale, against an assert loop a user would write instead.

Prints, in one run:
- mx_problems called in Python on layouts of 1,000, 10,000 and 100,000 records (goal: 10,000 < 1 s);
- the same filter in a playbook (one task) on 10,000 records;
- a per-record ``ansible.builtin.assert`` loop (what a playbook does without the filter) on 1,000
  records, checking only two of the rules, and the ratio per record.
"""

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
# tests/conftest.py makes the collection importable as ansible_collections.mailsec.mx.
sys.path.insert(0, str(ROOT / "tests"))
import conftest  # noqa: E402,F401  pylint: disable=unused-import,wrong-import-position

from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_problems  # noqa: E402

BIN = pathlib.Path(sys.executable).parent


def make_layout(records):
    """A sound layout: dead primary, ``records - 2`` live MXes, one trap, each with its own addresses."""
    layout = [{"preference": 0, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.1"]}]
    for number in range(records - 2):
        layout.append({
            "preference": 10 + number % 60000,
            "host": "mx%d.example.test" % number,
            "addresses": ["2001:db8:%x:%x::25" % (number >> 16, number & 0xFFFF)],
        })
    layout.append({"preference": 65535, "host": "trap.example.test", "role": "trap", "addresses": ["203.0.113.250"]})
    return layout


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def run_playbook(playbook, layout_file, workdir):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_STDOUT_CALLBACK="default")
    command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local", str(playbook), "-e", "@%s" % layout_file]
    seconds, result = timed(lambda: subprocess.run(command, env=env, cwd=workdir, capture_output=True, text=True, check=False))
    if result.returncode != 0:
        raise SystemExit("playbook failed:\n" + result.stdout[-3000:] + result.stderr[-3000:])
    return seconds


FILTER_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check the layout with the filter
      ansible.builtin.assert:
        that: layout | mailsec.mx.mx_problems | selectattr('severity', '==', 'error') | list | length == 0
"""

LOOP_PLAY = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: Check each record by hand (two rules only)
      ansible.builtin.assert:
        that:
          - item.preference | int >= 0 and item.preference | int <= 65535
          - item.role | default('live') != 'dead' or item.preference | int < (layout | rejectattr('role', 'defined') | map(attribute='preference') | min)
        quiet: true
      loop: "{{ layout }}"
"""


def main():
    print("mx_problems in Python (pure logic, no Ansible):")
    for size in (1_000, 10_000, 100_000):
        layout = make_layout(size)
        seconds, problems = timed(lambda layout=layout: layout_problems(layout))
        assert problems == [], problems[:3]
        print("  %7d records: %.3f s%s" % (size, seconds, "   (goal for 10,000: < 1 s)" if size == 10_000 else ""))

    with tempfile.TemporaryDirectory() as workdir:
        work = pathlib.Path(workdir)
        (work / "filter.yml").write_text(FILTER_PLAY)
        (work / "loop.yml").write_text(LOOP_PLAY)
        (work / "empty.json").write_text(json.dumps({"layout": make_layout(3)}))
        floor = run_playbook(work / "filter.yml", work / "empty.json", work)
        (work / "layout10k.json").write_text(json.dumps({"layout": make_layout(10_000)}))
        with_filter = run_playbook(work / "filter.yml", work / "layout10k.json", work)
        (work / "layout1k.json").write_text(json.dumps({"layout": make_layout(1_000)}))
        with_loop = run_playbook(work / "loop.yml", work / "layout1k.json", work)

    print("ansible-playbook, one task with the filter, every rule:")
    print("  %7d records: %.2f s (play floor with 3 records: %.2f s)" % (10_000, with_filter, floor))
    print("ansible-playbook, assert loop a user would write, two rules only:")
    print("  %7d records: %.2f s" % (1_000, with_loop))
    per_record_filter = max(with_filter - floor, 0.001) / 10_000
    per_record_loop = max(with_loop - floor, 0.001) / 1_000
    print("per record: filter %.3f ms, assert loop %.3f ms -> the filter is %.0fx faster per record"
          % (per_record_filter * 1000, per_record_loop * 1000, per_record_loop / per_record_filter))


if __name__ == "__main__":
    main()
