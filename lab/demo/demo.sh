#!/usr/bin/env bash
# `make demo`: build the demo lab, run harden-mx.yml on it (twice: the second run changes
# nothing), send real mail, print what happened, tear the lab down. KEEP_LAB=1 keeps it.
set -euo pipefail
# The lab code is the package `lab` at the repository root: run from there (python -m lab.mxlab ...).
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
state=${DEMO_STATE_DIR:-$root/.cache/demo}
python=${PYTHON:-$root/.venv/bin/python}
playbook=${ANSIBLE_PLAYBOOK:-$root/.venv/bin/ansible-playbook}
export ANSIBLE_PIPELINING=${ANSIBLE_PIPELINING:-1}

teardown() { "$python" -m lab.mxlab down --state-dir "$state" --name demo > /dev/null 2>&1 || true; }
if [[ ${KEEP_LAB:-0} == 1 ]]; then
  echo "KEEP_LAB=1: the lab stays; remove it with: (cd $root && $python -m lab.mxlab down --state-dir $state --name demo)"
else
  trap teardown EXIT
fi

step() { printf '\n=== %s\n' "$*"; }

step "Building the demo lab (network namespaces: DNS, dead primary, two MXes, four senders)"
"$python" -m lab.mxlab up lab/demo/spec.json --state-dir "$state"
"$playbook" -i "$state/inventory.yml" lab/demo/prepare.yml > "$state/prepare.log" \
  || { tail -40 "$state/prepare.log"; exit 1; }

step "ansible-playbook playbooks/harden-mx.yml (check the layout, preflight, firewall, publish, verify)"
"$playbook" -i "$state/inventory.yml" -i lab/demo/inventory playbooks/harden-mx.yml -e mx_verify_report_path="$state/mx-verify.json"

step "The same again: nothing left to change"
"$playbook" -i "$state/inventory.yml" -i lab/demo/inventory playbooks/harden-mx.yml | tail -12

step "Real mail: a spam bot at the highest MX (a trap), a Postfix sender, a crude sender, an allowlisted crude sender"
"$python" -m lab.demo.traffic --state-dir "$state"

step "ansible-playbook playbooks/trap-hits.yml: who the traps on mx1 caught"
"$playbook" -i "$state/inventory.yml" -i lab/demo/inventory playbooks/trap-hits.yml | sed -n '/"msg"/,/^}/p'


step "ansible-playbook playbooks/nolisting-audit.yml: whom the dead primary refused, who retried, who gave up"
"$playbook" -i "$state/inventory.yml" -i lab/demo/inventory playbooks/nolisting-audit.yml \
  -e '{"mx_audit_resolvers": ["198.51.100.53"]}' \
  -e mx_audit_report_path="$state/nolisting-audit.json" -e mx_audit_candidates_path="$state/allowlist-candidates.txt" \
  | sed -n '/"msg"/,/^}/p'
echo "allowlist candidates ($state/allowlist-candidates.txt, to review, never applied):"
grep -v '^#' "$state/allowlist-candidates.txt" || echo "  (none)"
"$python" -m lab.demo.audit_check --state-dir "$state" --report "$state/nolisting-audit.json"
