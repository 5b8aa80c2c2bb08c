"""Print a host's whole firewall state in a comparable form (counters and time left stripped).

python3 firewall_state.py            everything: nft ruleset, iptables-save, ip6tables-save, ipsets
python3 firewall_state.py --foreign  only what is not mailsec.mx's own (our table, chains and sets left out;
                                     iptables-nft tables are compared through iptables-save instead)
"""

import re
import subprocess
import sys

OURS = re.compile(r"mailsec_|MAILSEC_")
COUNTERS = re.compile(r"\[\d+:\d+\]")
# What a timed set element has left, and its counters: they change by the second, the set does not.
ELEMENT_STATE = re.compile(r" timeout \d+| packets \d+ bytes \d+")


def output(*command):
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def nft_tables(foreign):
    lines, skipping = [], False
    for line in output("nft", "-s", "list", "ruleset").splitlines():
        if line.startswith("table "):
            name = line.split()[1:3]
            skipping = foreign and (OURS.search(line) or name in (["ip", "filter"], ["ip6", "filter"]))
        if not skipping:
            lines.append(line)
        if line == "}":
            skipping = False
    return lines


def main():
    foreign = "--foreign" in sys.argv
    sections = {"nft": nft_tables(foreign)}
    for command in ("iptables-save", "ip6tables-save"):
        rows = [COUNTERS.sub("", row) for row in output(command).splitlines() if not row.startswith("#")]
        sections[command] = [row for row in rows if not (foreign and OURS.search(row))]
    sections["ipset"] = [ELEMENT_STATE.sub("", row) if row.startswith("add ") else row
                         for row in output("ipset", "save").splitlines() if not (foreign and OURS.search(row))]
    for name, rows in sections.items():
        print("== %s" % name)
        print("\n".join(rows))


if __name__ == "__main__":
    main()
