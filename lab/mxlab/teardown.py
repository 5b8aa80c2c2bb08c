"""`down`: remove everything a lab created, found by its state folder, its name, or name patterns.

Safe after a half-failed `up`, after a lost state folder, and twice. Processes in the lab's
namespaces get TERM, then KILL (lab.netns.stop_processes); mounts live only in the hosts'
private mount namespaces and die with their last process.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from lab.mxlab.common import LabError, read_json, run
from lab.mxlab.names import FALLBACK_RUNTIME_ROOT, RUNTIME_FILES, STATE_FILES, bridge_name, lab_link_pattern, registry_file
from lab.mxlab.spec import LAB_NAME_RE, SpecError
from lab.netns import NETNS_DIR, stop_processes


def down(state_dir: str | os.PathLike | None = None, name: str | None = None, quiet: bool = False) -> None:
    """Remove everything a lab created; safe after a half-failed up, and twice."""
    state = Path(state_dir).resolve() if state_dir else None
    labs = [lab for lab in _labs_to_remove(state, name) if _lab_exists(*lab)]
    for lab_name, lab_state, runtime in labs:
        _stop_lab(lab_name)
        _remove_files(lab_state, runtime, lab_name)
        if not quiet:
            print(f"mxlab: lab {lab_name} is down")
    if not labs and not quiet:
        print("mxlab: nothing to tear down")


def _labs_to_remove(state: Path | None, name: str | None) -> list[tuple[str, Path | None, Path | None]]:
    """(name, state dir, runtime dir) of each lab the arguments point at."""
    found: dict[str, tuple[Path | None, Path | None]] = {}
    if state is not None:
        record = read_json(state / "lab.json")
        if record:
            found[record["name"]] = (state, Path(record["runtime_dir"]))
    if name is not None:
        if not LAB_NAME_RE.match(name):
            raise SpecError(f"lab name {name!r}: must be 1-6 characters of a-z and 0-9")
        registered = read_json(registry_file(name)) or {}
        known_state, known_runtime = found.get(name, (None, None))
        fallback = FALLBACK_RUNTIME_ROOT / name
        found[name] = (
            known_state or _optional_path(registered.get("state_dir")) or state,
            known_runtime or _optional_path(registered.get("runtime_dir"))
            or (fallback if fallback.exists() else None),
        )
    return [(lab, lab_state, runtime) for lab, (lab_state, runtime) in found.items()]


def _lab_exists(lab: str, state: Path | None, runtime: Path | None) -> bool:
    """Anything of the lab left: namespaces, links, registry entry or files."""
    leftovers = [registry_file(lab)]
    if state is not None:
        leftovers += [state / name for name in STATE_FILES]
    if runtime is not None:
        leftovers += [runtime / "hosts"] + [runtime / name for name in RUNTIME_FILES]
    return bool(lab_namespaces(lab) or lab_links(lab) or any(p.exists() for p in leftovers))


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _stop_lab(lab: str) -> None:
    namespaces = lab_namespaces(lab)
    kill_namespace_processes(namespaces)
    for link in lab_links(lab):
        # Deleting the root end of a veth removes the pair; the bridge goes last.
        if not link.endswith("-br"):
            run("ip", "link", "del", link, check=False)
    for netns in namespaces:
        run("ip", "netns", "del", netns, check=False)
    run("ip", "link", "del", bridge_name(lab), check=False)


def lab_namespaces(lab: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(NETNS_DIR) if n.startswith(f"{lab}-"))
    except FileNotFoundError:
        return []


def lab_links(lab: str) -> list[str]:
    pattern = lab_link_pattern(lab)
    links = json.loads(run("ip", "-j", "link", "show").stdout or "[]")
    return sorted(link["ifname"] for link in links if pattern.match(link["ifname"]))


def kill_namespace_processes(namespaces: list[str]) -> None:
    """TERM every process in the namespaces, KILL what is left after a grace period."""
    survivors = stop_processes(namespaces)
    if survivors:
        raise LabError(f"processes survived SIGKILL: {sorted(survivors)}")


def _remove_files(state: Path | None, runtime: Path | None, lab: str) -> None:
    if runtime is not None:
        shutil.rmtree(runtime / "hosts", ignore_errors=True)
        for name in RUNTIME_FILES:
            (runtime / name).unlink(missing_ok=True)
        if runtime == FALLBACK_RUNTIME_ROOT / lab:
            shutil.rmtree(runtime, ignore_errors=True)
    if state is not None:
        for name in STATE_FILES:
            (state / name).unlink(missing_ok=True)
    registry_file(lab).unlink(missing_ok=True)
