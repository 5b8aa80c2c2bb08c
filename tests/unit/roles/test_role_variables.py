"""meta/argument_specs.yml is the one description of a role's variables: defaults and README must agree with it.

For every role under roles/ (found by listing the folder, so a role added later is checked too):
- the spec is well formed (every option has a type and a description, required options have no default, an option
  in several entry points has the same default in each);
- defaults/main.yml holds exactly the public options (not starting with ``__``) that have a default, with the
  spec's default (a required option has none: a value there would satisfy ``required`` and hide a missing one),
  anything else it holds is described in the spec, and it describes nothing itself (one header comment at most);
- the README's variable table is what ``make role-docs`` (.ci/role_docs.py) renders from the spec now, the Role
  variables section holds nothing else, and the README has the shape every role README shares.
"""

import importlib.util
import pathlib
import re
import textwrap

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[3]
ROLES = ROOT / "roles"

_SPEC = importlib.util.spec_from_file_location("role_docs", ROOT / ".ci" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(role_docs)

ALL_ROLES = role_docs.roles(ROLES)
OPTION_KEYS = {"description", "type", "elements", "default", "choices", "required", "options", "aliases", "no_log",
               "version_added", "apply_defaults", "deprecated"}
# Sections of a role README, in this order; sections of a role's own go between the last two.
README_SECTIONS = ["Requirements", "Role variables", "Example playbook", "Check mode and diff mode", "Limitations"]


def options(role, root=ROLES):
    """{name: [option spec of each entry point that has it]} over every entry point."""
    specs = role_docs.argument_specs(role, root)
    found = {}
    for entry in role_docs.entry_points(specs):
        for name, option in ((specs[entry] or {}).get("options") or {}).items():
            found.setdefault(name, []).append(option or {})
    return found


def defaults_text(role, root=ROLES):
    path = root / role / "defaults" / "main.yml"
    return path.read_text() if path.is_file() else None


def spec_problems(role, root=ROLES):
    problems = []
    for entry, spec in role_docs.argument_specs(role, root).items():
        if not (spec or {}).get("short_description"):
            problems.append("entry point %s: no short_description" % entry)
    for name, variants in options(role, root).items():
        for option in variants:
            problems += ["%s: unknown key %s" % (name, key) for key in sorted(set(option) - OPTION_KEYS)]
            problems += ["%s: no %s" % (name, key) for key in ("description", "type") if not option.get(key)]
            if option.get("required") and "default" in option:
                problems.append("%s: required, yet has a default" % name)
            if "choices" in option and "default" in option and option["default"] not in option["choices"]:
                problems.append("%s: default %r is not one of its choices" % (name, option["default"]))
        if len({repr(option.get("default")) for option in variants}) > 1:
            problems.append("%s: entry points disagree on its default" % name)
    return problems


def defaults_problems(role, root=ROLES):
    described = options(role, root)
    text = defaults_text(role, root)
    values = (yaml.safe_load(text) or {}) if text is not None else {}
    problems = []
    for name, value in values.items():
        if name not in described:
            problems.append("%s: in defaults/main.yml, not described in meta/argument_specs.yml" % name)
        elif any(option.get("required") for option in described[name]):
            problems.append("%s: required, yet defaults/main.yml gives it a value (which hides a missing one)" % name)
        elif "default" not in described[name][0]:
            problems.append("%s: in defaults/main.yml, but meta/argument_specs.yml gives no default" % name)
        elif value != described[name][0]["default"]:
            problems.append("%s: %r in defaults/main.yml, %r in meta/argument_specs.yml"
                            % (name, value, described[name][0]["default"]))
    for name, variants in described.items():
        if role_docs.is_public(name) and "default" in variants[0] and name not in values:
            problems.append("%s: has a default in meta/argument_specs.yml, missing from defaults/main.yml" % name)
    return problems


def _comment(line):
    """Whether a YAML line is or ends in a comment (a '#' after blank space, outside quotes)."""
    for match in re.finditer(r"(?:^|\s)#", line):
        before = line[:match.start()]
        if before.count('"') % 2 == 0 and before.count("'") % 2 == 0:
            return True
    return False


def prose_in_defaults(role, root=ROLES):
    """Numbers of the comment lines in defaults/main.yml beyond a header comment on line 2."""
    lines = (defaults_text(role, root) or "").splitlines()
    return [number for number, line in enumerate(lines, 1) if _comment(line) and number != 2]


def readme_problems(role, root=ROLES):
    path = root / role / "README.md"
    if not path.is_file():
        return ["no README.md"]
    readme = path.read_text()
    problems = []
    table = role_docs.generated_part(readme)
    if table is None:
        problems.append("README.md: no generated variable table; run make role-docs")
    elif table != role_docs.render_table(role, root):
        problems.append("README.md: the variable table differs from meta/argument_specs.yml; run make role-docs")
    if readme.splitlines()[:1] != ["# mailsec.mx.%s" % role]:
        problems.append("README.md: the title is not '# mailsec.mx.%s'" % role)
    sections = re.findall(r"^## (.+?)\s*$", readme, re.MULTILINE)
    if not (sections[:2] == README_SECTIONS[:2] and sections[2:4] == README_SECTIONS[2:4]
            and sections[-1:] == README_SECTIONS[-1:]):
        problems.append("README.md: sections %s, wanted %s (sections of the role's own before Limitations)"
                        % (sections, README_SECTIONS))
    elif table is not None:
        body = readme.split("\n## Role variables", 1)[1].split("\n", 1)[1].split("\n## ", 1)[0]
        if body.strip() != table:
            problems.append("README.md: the Role variables section holds more than the generated table")
    return problems


def test_the_roles_are_found():
    assert {"dead_primary", "mx_live", "mx_metrics", "mx_records", "mx_trap", "mx_verify"} <= set(ALL_ROLES)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_argument_spec_is_well_formed(role):
    assert spec_problems(role) == []


@pytest.mark.parametrize("role", ALL_ROLES)
def test_defaults_match_the_argument_spec(role):
    assert defaults_problems(role) == []


@pytest.mark.parametrize("role", ALL_ROLES)
def test_defaults_carry_no_prose(role):
    assert prose_in_defaults(role) == [], (
        "defaults/main.yml holds only the variables (and one header comment on line 2): describe them in "
        "meta/argument_specs.yml")


@pytest.mark.parametrize("role", ALL_ROLES)
def test_readme_table_is_generated_and_shaped_like_every_role_readme(role):
    assert readme_problems(role) == []


def test_allow_insecure_http_reaches_the_module():
    tasks = yaml.safe_load((ROLES / "mx_records" / "tasks" / "main.yml").read_text())
    (powerdns,) = [task for task in tasks if "mailsec.mx.powerdns_record_set" in task]
    assert powerdns["mailsec.mx.powerdns_record_set"]["allow_insecure_http"] == "{{ mx_records_allow_insecure_http }}"


# The checks themselves, on a role of their own: each kind of drift is found.

SPEC = """\
---
argument_specs:
  main:
    short_description: A role
    options:
      demo_addresses:
        description: Addresses.
        type: list
        elements: str
        default: []
      demo_zone:
        description: The zone.
        type: str
        required: true
      demo_state:
        description: V(present) or V(absent).
        type: str
        choices: [present, absent]
        default: present
      __demo_internal:
        description: Set by another role.
        type: bool
  hits:
    short_description: Another entry point
    options:
      demo_state:
        description: Like in main.
        type: str
        default: present
"""
DEFAULTS = "---\n# Described in meta/argument_specs.yml.\ndemo_addresses: []\n\ndemo_state: present\n"
README = """\
# mailsec.mx.demo

A role.

## Requirements

None.

## Role variables

## Example playbook

## Check mode and diff mode

## How it works

## Limitations
"""


@pytest.fixture
def demo(tmp_path):
    role = tmp_path / "roles" / "demo"
    for path, text in (("meta/argument_specs.yml", SPEC), ("defaults/main.yml", DEFAULTS), ("README.md", README)):
        (role / path).parent.mkdir(parents=True, exist_ok=True)
        (role / path).write_text(text)
    (role / "README.md").write_text(role_docs.updated_readme("demo", tmp_path / "roles"))
    return tmp_path / "roles"


def test_a_consistent_role_passes(demo):
    assert (spec_problems("demo", demo), defaults_problems("demo", demo), prose_in_defaults("demo", demo),
            readme_problems("demo", demo)) == ([], [], [], [])


def test_a_variable_missing_from_the_readme_is_found(demo):
    spec = demo / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.replace("      demo_zone:", "      demo_manage_packages:\n        description: Install.\n"
                                 "        type: bool\n        default: true\n      demo_zone:"))
    assert readme_problems("demo", demo) == [
        "README.md: the variable table differs from meta/argument_specs.yml; run make role-docs"]
    assert defaults_problems("demo", demo) == [
        "demo_manage_packages: has a default in meta/argument_specs.yml, missing from defaults/main.yml"]


@pytest.mark.parametrize("line, problem", [
    ("demo_state: absent\n", "demo_state: 'absent' in defaults/main.yml, 'present' in meta/argument_specs.yml"),
    ("demo_other: 1\n", "demo_other: in defaults/main.yml, not described in meta/argument_specs.yml"),
    ('demo_zone: ""\n', "demo_zone: required, yet defaults/main.yml gives it a value (which hides a missing one)"),
    ("__demo_internal: true\n", "__demo_internal: in defaults/main.yml, but meta/argument_specs.yml gives no default"),
])
def test_defaults_that_drift_from_the_spec_are_found(demo, line, problem):
    defaults = demo / "demo" / "defaults" / "main.yml"
    defaults.write_text(DEFAULTS.replace("demo_state: present\n", "") + line)
    assert problem in defaults_problems("demo", demo)


def test_prose_in_defaults_is_found(demo):
    defaults = demo / "demo" / "defaults" / "main.yml"
    defaults.write_text(DEFAULTS + "# Whether to do it.\ndemo_flag: true  # or false\nname: 'a # b'\n")
    assert prose_in_defaults("demo", demo) == [6, 7]


def test_hand_written_variable_prose_is_found(demo):
    readme = demo / "demo" / "README.md"
    readme.write_text(readme.read_text().replace(role_docs.END, role_docs.END + "\n\n`demo_zone`: the zone."))
    assert readme_problems("demo", demo) == ["README.md: the Role variables section holds more than the generated table"]


def test_a_readme_of_another_shape_is_found(demo):
    readme = demo / "demo" / "README.md"
    readme.write_text(readme.read_text().replace("## Limitations\n", ""))
    assert [problem.split(":", maxsplit=1)[0] for problem in readme_problems("demo", demo)] == ["README.md"]
    assert "sections" in readme_problems("demo", demo)[0]


def test_spec_mistakes_are_found(demo):
    spec = demo / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.replace("        required: true\n", "        required: true\n        default: x\n")
                    .replace("        default: present\n", "        default: gone\n", 1)
                    .replace("description: Addresses.", "descripton: Addresses."))
    assert spec_problems("demo", demo) == textwrap.dedent("""\
        demo_addresses: unknown key descripton
        demo_addresses: no description
        demo_zone: required, yet has a default
        demo_state: default 'gone' is not one of its choices
        demo_state: entry points disagree on its default""").splitlines()
