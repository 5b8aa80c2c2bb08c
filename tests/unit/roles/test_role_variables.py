"""meta/argument_specs.yml is the one description of a role's variables: defaults and README must agree with it.

For the roles mx_records and mx_verify: every option has a default in defaults/main.yml equal to the spec's
(required ones too, as a placeholder), defaults define nothing the spec does not describe, and the README names
every variable."""

import pathlib

import pytest
import yaml

ROLES = pathlib.Path(__file__).resolve().parents[3] / "roles"


def spec(role):
    return yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]


def defaults(role):
    return yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())


@pytest.mark.parametrize("role", ["mx_records", "mx_verify"])
def test_defaults_match_the_argument_spec(role):
    options, values = spec(role), defaults(role)
    assert sorted(values) == sorted(options)
    for name, option in options.items():
        if not option.get("required"):
            assert values[name] == option["default"], name


@pytest.mark.parametrize("role", ["mx_records", "mx_verify"])
def test_readme_names_every_variable(role):
    readme = (ROLES / role / "README.md").read_text()
    assert [name for name in spec(role) if name not in readme] == []


def test_allow_insecure_http_reaches_the_module():
    tasks = yaml.safe_load((ROLES / "mx_records" / "tasks" / "main.yml").read_text())
    (powerdns,) = [task for task in tasks if "mailsec.mx.powerdns_record_set" in task]
    assert powerdns["mailsec.mx.powerdns_record_set"]["allow_insecure_http"] == "{{ mx_records_allow_insecure_http }}"
