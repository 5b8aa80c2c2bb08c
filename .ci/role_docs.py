"""Render each role's "Role variables" table from its meta/argument_specs.yml into its README.md.

meta/argument_specs.yml is the one description of a role's variables (ansible-doc --type role shows it); the
README's table is generated from it, between the two marker lines below, and nothing else of the README is touched.
A README with a "## Role variables" section but no markers gets them at the top of that section.

    python .ci/role_docs.py            rewrite the tables of every role under roles/ (make role-docs)
    python .ci/role_docs.py --check    change nothing; exit 1 naming the READMEs whose table is out of date

tests/unit/roles/test_role_variables.py imports render_table() and fails when a README differs from it.
"""

import argparse
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
ROLES = ROOT / "roles"
COMMAND = "make role-docs"
BEGIN = "<!-- BEGIN role variables: generated from meta/argument_specs.yml by %s -->" % COMMAND
END = "<!-- END role variables -->"
SECTION = "## Role variables"


class RoleDocsError(Exception):
    """A role whose README or argument spec the generator cannot work with."""


def roles(root=ROLES):
    """Names of the roles under ``root``, sorted."""
    return sorted(path.name for path in root.iterdir() if path.is_dir() and not path.name.startswith("."))


def argument_specs(role, root=ROLES):
    """``{entry point: spec}`` of a role's meta/argument_specs.yml, in file order."""
    path = root / role / "meta" / "argument_specs.yml"
    if not path.is_file():
        raise RoleDocsError("%s: missing; every role describes its variables there" % path.relative_to(root.parent))
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    specs = data.get("argument_specs")
    if not isinstance(specs, dict) or not specs:
        raise RoleDocsError("%s: no argument_specs entry points" % path.relative_to(root.parent))
    return specs


def entry_points(specs):
    """Entry point names, ``main`` first, the others in file order."""
    return sorted(specs, key=lambda name: name != "main")


def is_public(name):
    return not name.startswith("__")


# Ansible markup (https://docs.ansible.com/ansible/latest/dev_guide/ansible_markup.html) to Markdown, as ansible-doc
# reads it (ansible/cli/doc.py): semantic markup takes backslash escapes, the classic kind ends at the first ")".
_SEMANTIC = r"\(((?:[^\\)]+|\\.)+)\)"
_MARKUP = re.compile(
    r"\b(?:(?P<sem>O|V|E|RV)" + _SEMANTIC
    + r"|(?P<classic>I|B|M|C|U)\((?P<arg>[^)]+)\)"
    + r"|P\((?P<plugin>[^#)]+)#(?P<plugin_type>[a-z]+)\)"
    + r"|L\((?P<link_text>[^)]+), *(?P<link_url>[^)]+)\)"
    + r"|R\((?P<ref_text>[^)]+), *(?P<ref>[^)]+)\)"
    + r"|(?P<ruler>HORIZONTALLINE)\b)"
)
_UNESCAPE = re.compile(r"\\(.)")
_FQCN_TYPE_PREFIX = re.compile(r"^([^.]+\.[^.]+\.[^#]+)#([a-z]+):(.*)$")


def _code(text):
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return fence + pad + text.replace("|", "\\|") + pad + fence


def _plain(text):
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("*", "\\*").replace("<", "&lt;")


def _option(text):
    """O(...) and RV(...): an option (or return value) name, perhaps ``=value``, perhaps of another plugin or role."""
    value = None
    if "=" in text:
        text, value = text.split("=", 1)
    owner = ""
    match = _FQCN_TYPE_PREFIX.match(text)
    if match:
        owner = " (of %s %s)" % (match.group(2), _code(match.group(1)))
        text = match.group(3)
    elif text.startswith("ignore:"):
        text = text[len("ignore:"):]
    if ":" in text:
        text = text.split(":", 1)[1]
    return _code(text if value is None else "%s=%s" % (text, value)) + owner


def markdown(text):
    """One description paragraph in Ansible markup as Markdown fit for a table cell."""
    out, position = [], 0
    for match in _MARKUP.finditer(text):
        out.append(_plain(text[position:match.start()]))
        position = match.end()
        if match.group("sem"):
            argument = _UNESCAPE.sub(r"\1", match.group(2))
            out.append(_option(argument) if match.group("sem") in ("O", "RV") else _code(argument))
        elif match.group("classic"):
            kind, argument = match.group("classic"), match.group("arg")
            out.append({"I": "*%s*" % _plain(argument), "B": "**%s**" % _plain(argument),
                        "U": "<%s>" % argument}.get(kind) or _code(argument))
        elif match.group("plugin"):
            out.append(_code(match.group("plugin")))
        elif match.group("link_text"):
            out.append("[%s](%s)" % (_plain(match.group("link_text")), match.group("link_url").strip()))
        elif match.group("ref_text"):
            out.append(_plain(match.group("ref_text")))
        else:
            out.append("<hr>")
    out.append(_plain(text[position:]))
    return " ".join("".join(out).split())


def _paragraphs(description):
    if description is None:
        return []
    return [description] if isinstance(description, str) else list(description)


def value(data):
    """A default or choice as it would be written in YAML vars, on one line."""
    if data == "":
        return '""'
    text = yaml.safe_dump(data, default_flow_style=True, width=float("inf"), sort_keys=False).strip()
    return text[:-len("...")].strip() if text.endswith("...") else text


def _type(option):
    kind = option.get("type", "str")
    if kind == "list" and option.get("elements"):
        return "list of %s" % option["elements"]
    return kind


def _rows(options, prefix=""):
    for name, option in options.items():
        if not is_public(name):
            continue
        option = option or {}
        cells = [markdown(paragraph) for paragraph in _paragraphs(option.get("description"))]
        if option.get("choices"):
            cells.append("Choices: %s." % ", ".join(_code(value(choice)) for choice in option["choices"]))
        if option.get("required"):
            default = "**required**"
        elif "default" in option:
            default = _code(value(option["default"]))
        else:
            default = ""
        yield "| %s | %s | %s | %s |" % (_code(prefix + name), _type(option), default, "<br>".join(cells))
        if option.get("options"):
            yield from _rows(option["options"], prefix + name + ".")


def render_table(role, root=ROLES):
    """The generated part of a role's README, markers included."""
    specs = argument_specs(role, root)
    lines = [BEGIN]
    names = entry_points(specs)
    for entry in names:
        spec = specs[entry] or {}
        if len(names) > 1:
            lines += ["", "### Entry point `%s`: %s" % (entry, markdown(spec.get("short_description", "")).rstrip("."))]
            lines += ["", "The role's default tasks." if entry == "main" else "Run with `tasks_from: %s`." % entry]
        rows = list(_rows(spec.get("options") or {}))
        if rows:
            lines += ["", "| Variable | Type | Default | Description |", "| --- | --- | --- | --- |"] + rows
        else:
            lines += ["", "No variables."]
    lines += ["", END]
    return "\n".join(lines)


def generated_part(text):
    """The text between and including the markers, or None when the README has none."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start:end + len(END)]


def updated_readme(role, root=ROLES):
    """The role's README text with a freshly rendered table."""
    path = root / role / "README.md"
    if not path.is_file():
        raise RoleDocsError("%s: missing" % path.relative_to(root.parent))
    text = path.read_text(encoding="utf-8")
    table = render_table(role, root)
    current = generated_part(text)
    if current is not None:
        return text.replace(current, table, 1)
    heading = re.search(r"^%s[ \t]*\n" % re.escape(SECTION), text, re.MULTILINE)
    if heading is None:
        raise RoleDocsError("%s: no %r section to put the variable table in" % (path.relative_to(root.parent), SECTION))
    return text[:heading.end()] + "\n" + table + "\n" + text[heading.end():]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    args = parser.parse_args(argv)
    stale, errors = [], []
    for role in roles(ROLES):
        path = ROLES / role / "README.md"
        try:
            text = updated_readme(role, ROLES)
        except RoleDocsError as error:
            errors.append(str(error))
            continue
        if text != path.read_text(encoding="utf-8"):
            stale.append(str(path.relative_to(ROOT)))
            if not args.check:
                path.write_text(text, encoding="utf-8")
    for error in errors:
        print("error: %s" % error, file=sys.stderr)
    for path in stale:
        print("%s %s" % ("out of date:" if args.check else "updated", path))
    return 1 if errors or (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
