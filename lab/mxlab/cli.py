"""The command line: `python -m lab.mxlab up|down|exec ...` (from the folder that holds the `lab` package)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from lab.mxlab.access import exec_command
from lab.mxlab.build import up
from lab.mxlab.common import LabError, check_environment
from lab.mxlab.names import bridge_name
from lab.mxlab.spec import SpecError, load_spec_file, parse_spec
from lab.mxlab.teardown import down


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.handler(args)
    except (SpecError, LabError) as error:
        print(f"mxlab: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, SpecError) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lab.mxlab", description="Throwaway namespace hosts reachable over SSH.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    up_cmd = commands.add_parser("up", help="build a lab from SPEC (JSON, or YAML with PyYAML)")
    up_cmd.add_argument("spec", metavar="SPEC", help="spec file, or - for stdin")
    up_cmd.add_argument("--state-dir", required=True, help="folder for keys, inventory and teardown data")
    up_cmd.add_argument("--keep-on-failure", action="store_true", help="leave a failed lab for inspection")
    up_cmd.set_defaults(handler=_cli_up)

    down_cmd = commands.add_parser("down", help="tear a lab down (by state dir and/or name)")
    down_cmd.add_argument("--state-dir")
    down_cmd.add_argument("--name")
    down_cmd.set_defaults(handler=_cli_down)

    exec_cmd = commands.add_parser("exec", help="run a command inside a host's namespaces")
    exec_cmd.add_argument("--state-dir", required=True)
    exec_cmd.add_argument("host")
    exec_cmd.add_argument("command", nargs=argparse.REMAINDER, help="-- cmd args...")
    exec_cmd.set_defaults(handler=_cli_exec)
    return parser


def _cli_up(args: argparse.Namespace) -> int:
    spec = parse_spec(load_spec_file(args.spec))
    started = time.monotonic()
    instances = up(spec, args.state_dir, keep_on_failure=args.keep_on_failure)
    elapsed = time.monotonic() - started
    print(f"mxlab: lab {spec.name} up in {elapsed:.1f} s ({len(instances)} hosts, "
          f"bridge {bridge_name(spec.name)} {' '.join(map(str, spec.bridge_addresses))})")
    for instance in instances:
        print(f"  {instance['instance']:<16} {' '.join(instance['addresses']):<40} "
              f"netns {instance['namespace']}  sshd pid {instance['sshd_pid']}")
    print(f"  inventory: {Path(args.state_dir).resolve() / 'inventory.yml'}")
    return 0


def _cli_down(args: argparse.Namespace) -> int:
    if not args.state_dir and not args.name:
        raise LabError("down needs --state-dir and/or --name")
    check_environment()
    started = time.monotonic()
    down(state_dir=args.state_dir, name=args.name)
    print(f"mxlab: down in {time.monotonic() - started:.1f} s")
    return 0


def _cli_exec(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise LabError("exec needs a command after --")
    argv = exec_command(args.state_dir, args.host, command)
    os.execvp(argv[0], argv)
    return 127  # not reached
