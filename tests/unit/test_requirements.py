"""requirements.txt lists exactly the third-party Python packages that the plugins import."""

import ast
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
# Import name -> distribution name, for packages whose names differ.
DISTRIBUTION = {"dns": "dnspython", "yaml": "pyyaml"}
OWN = {"ansible", "ansible_collections", "__future__"}


def third_party_imports():
    found = set()
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in OWN:
                    found.add(DISTRIBUTION.get(top, top))
    return found


def listed_requirements():
    listed = set()
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            listed.add(re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower())
    return listed


def test_requirements_match_plugin_imports():
    assert listed_requirements() == third_party_imports()
