"""The README variable table generator, .ci/role_docs.py (make role-docs)."""

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]

_SPEC = importlib.util.spec_from_file_location("role_docs", ROOT / ".ci" / "role_docs.py")
role_docs = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(role_docs)


@pytest.mark.parametrize("text, markdown", [
    ("Required with O(demo_state=present).", "Required with `demo_state=present`."),
    ("V(reset) or V(drop); C(nft) and M(mailsec.mx.mx_trap_hits).", "`reset` or `drop`; `nft` and `mailsec.mx.mx_trap_hits`."),
    ("Like O(mailsec.mx.dead_primary#role:main:dead_primary_allow).",
     "Like `dead_primary_allow` (of role `mailsec.mx.dead_primary`)."),
    ("See P(mailsec.mx.mx_problems#filter).", "See `mailsec.mx.mx_problems`."),
    ("V(a\\)b) stays one value.", "`a)b` stays one value."),
    ("I(never) B(ever), U(https://example.org) and L(the docs, https://example.org/d).",
     "*never* **ever**, <https://example.org> and [the docs](https://example.org/d)."),
    ("A | in text, V(a|b), <tags> and *stars*.", "A \\| in text, `a\\|b`, &lt;tags> and \\*stars\\*."),
    ("Lines\n  folded   together.", "Lines folded together."),
])
def test_markup_becomes_markdown(text, markdown):
    assert role_docs.markdown(text) == markdown


@pytest.mark.parametrize("data, text", [
    ("", '""'), ("auto", "auto"), ([], "[]"), ([25], "[25]"), (True, "true"), (3600, "3600"),
    (["a", "b c"], "[a, b c]"), ({"k": 1}, "{k: 1}"), ("yes", "'yes'"),
])
def test_values_are_written_as_yaml_on_one_line(data, text):
    assert role_docs.value(data) == text


SPEC = """\
---
argument_specs:
  main:
    short_description: Do it
    options:
      demo_zone:
        description: The zone, for example V(example.org).
        type: str
        required: true
      demo_action:
        description:
          - V(reset) answers at once.
          - V(drop) waits.
        type: str
        choices: [reset, drop]
        default: reset
      demo_hosts:
        description: Hosts.
        type: list
        elements: dict
        default: []
        options:
          name:
            description: Its name.
            type: str
      __demo_internal:
        description: Set by another role.
        type: bool
  hits:
    short_description: Show the hits.
    options:
      __demo_only_internal:
        description: Set by another role.
        type: bool
"""


@pytest.fixture
def roles(tmp_path):
    (tmp_path / "roles" / "demo" / "meta").mkdir(parents=True)
    (tmp_path / "roles" / "demo" / "meta" / "argument_specs.yml").write_text(SPEC)
    return tmp_path / "roles"


def test_one_table_per_entry_point_with_public_options_only(roles):
    assert role_docs.render_table("demo", roles) == "\n".join([
        role_docs.BEGIN,
        "",
        "### Entry point `main`: Do it",
        "",
        "The role's default tasks.",
        "",
        "| Variable | Type | Default | Description |",
        "| --- | --- | --- | --- |",
        "| `demo_zone` | str | **required** | The zone, for example `example.org`. |",
        "| `demo_action` | str | `reset` | `reset` answers at once.<br>`drop` waits.<br>Choices: `reset`, `drop`. |",
        "| `demo_hosts` | list of dict | `[]` | Hosts. |",
        "| `demo_hosts.name` | str |  | Its name. |",
        "",
        "### Entry point `hits`: Show the hits",
        "",
        "Run with `tasks_from: hits`.",
        "",
        "No variables.",
        "",
        role_docs.END,
    ])


def test_a_single_main_entry_point_has_no_heading(roles):
    spec = roles / "demo" / "meta" / "argument_specs.yml"
    spec.write_text(SPEC.split("  hits:", maxsplit=1)[0])
    assert "### " not in role_docs.render_table("demo", roles)


README = "# mailsec.mx.demo\n\nIntro.\n\n## Role variables\n\n## Example playbook\n\nKept.\n"


def test_markers_go_at_the_top_of_the_role_variables_section_and_the_rest_stays(roles):
    (roles / "demo" / "README.md").write_text(README)
    first = role_docs.updated_readme("demo", roles)
    table = role_docs.render_table("demo", roles)
    assert first == README.replace("## Role variables\n", "## Role variables\n\n" + table + "\n")
    (roles / "demo" / "README.md").write_text(first)
    assert role_docs.updated_readme("demo", roles) == first


def test_only_the_text_between_the_markers_is_replaced(roles):
    stale = "%s\nold table\n%s" % (role_docs.BEGIN, role_docs.END)
    (roles / "demo" / "README.md").write_text("# t\n\n## Role variables\n\n%s\n\nAfter.\n" % stale)
    assert role_docs.updated_readme("demo", roles) == (
        "# t\n\n## Role variables\n\n%s\n\nAfter.\n" % role_docs.render_table("demo", roles))


def test_a_readme_without_the_section_or_a_role_without_a_spec_is_an_error(roles):
    (roles / "demo" / "README.md").write_text("# mailsec.mx.demo\n\nIntro.\n")
    with pytest.raises(role_docs.RoleDocsError, match="no '## Role variables' section"):
        role_docs.updated_readme("demo", roles)
    (roles / "other").mkdir()
    with pytest.raises(role_docs.RoleDocsError, match="argument_specs.yml: missing"):
        role_docs.render_table("other", roles)


def test_the_command_rewrites_stale_tables_and_check_only_reports(roles, monkeypatch, capsys):
    monkeypatch.setattr(role_docs, "ROOT", roles.parent)
    monkeypatch.setattr(role_docs, "ROLES", roles)
    readme = roles / "demo" / "README.md"
    readme.write_text(README)
    assert role_docs.main(["--check"]) == 1
    assert readme.read_text() == README
    assert role_docs.main([]) == 0
    assert role_docs.main(["--check"]) == 0
    assert capsys.readouterr().out == "out of date: roles/demo/README.md\nupdated roles/demo/README.md\n"
