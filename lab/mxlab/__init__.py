"""Throwaway test hosts as Linux network namespaces, reachable over SSH (see lab/README.md).

Each host is a network namespace wired to a bridge in the root namespace, with private overlays
on /etc, /var and /root, a tmpfs on /run, its own hostname, and an sshd the controller reaches
with a generated key. The parts, one module each:

- spec:     parse and validate a lab description (SpecError, parse_spec, load_spec_file)
- build:    `up`: bridge, namespaces, veths, keys, host files, booting, the SSH checks
- boot:     what runs inside a new host before it becomes its sshd (`python -m lab.mxlab.boot`)
- teardown: `down` and the helpers that find what a lab left
- access:   reaching the hosts (`ssh`, `exec_command`)
- cli:      `python -m lab.mxlab up|down|exec ...`
- names, common: names and paths of a lab's objects; errors and small helpers they share

The names below are the public API: `from lab import mxlab; mxlab.up(spec, state_dir)`.
Stdlib only; needs root, iproute2, util-linux (unshare, nsenter, mount) and OpenSSH.
"""

from lab.mxlab.access import exec_command, host_pid, ssh
from lab.mxlab.build import render_inventory, render_sshd_config, up
from lab.mxlab.cli import main
from lab.mxlab.common import LabError, check_environment, read_pid, run
from lab.mxlab.names import (FALLBACK_RUNTIME_ROOT, REGISTRY_DIR, bridge_name, choose_runtime_dir, lab_link_pattern,
                             namespace_name, registry_file, veth_name)
from lab.mxlab.spec import (ALLOWED_NETWORKS, MAX_HOSTS, HostSpec, LabSpec, SpecError, load_spec_file, parse_address,
                            parse_spec)
from lab.mxlab.teardown import down, kill_namespace_processes, lab_links, lab_namespaces
from lab.netns import namespace_pids, process_alive

__all__ = [
    "ALLOWED_NETWORKS", "FALLBACK_RUNTIME_ROOT", "MAX_HOSTS", "REGISTRY_DIR",
    "HostSpec", "LabError", "LabSpec", "SpecError",
    "bridge_name", "check_environment", "choose_runtime_dir", "down", "exec_command", "host_pid",
    "kill_namespace_processes", "lab_link_pattern", "lab_links", "lab_namespaces", "load_spec_file", "main",
    "namespace_name", "namespace_pids", "parse_address", "parse_spec", "process_alive", "read_pid", "registry_file",
    "render_inventory", "render_sshd_config", "run", "ssh", "up", "veth_name",
]
