"""AWX / Automation Platform readiness, checked as far as it goes without a container engine or an AWX.

The execution environment: ``ansible-builder create`` on docs/execution-environment.yml (with the collection taken
from its ``ansible-galaxy collection build`` tarball, so build_ignore and the metadata count as in a user's build),
the collection installed as the build's galaxy stage installs it, then the build context's own introspection script
and ``ansible-builder introspect``: they must find exactly requirements.txt and bindep.txt (less what ansible-builder
leaves to ansible-core), and a missing entry or a wrong metadata path must show up as a problem.

docs/awx.md: its project files (collections/requirements.yml, the playbook wrappers, the inventory) install and
resolve; its schedules are rules AWX accepts; its credential types have AWX's format and inject the environment
variables the modules read, and each one, rendered as AWX renders it, is what lets the mx_records role publish into a
real BIND, PowerDNS or (moto's) Route 53: without it the same run fails and changes nothing."""

import ast
import datetime
import importlib.metadata
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import botocore.credentials
import jinja2
import jinja2.sandbox
import pytest
import yaml
from dateutil import rrule
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from ansible_collections.mailsec.mx.plugins.module_utils._layout import layout_problems
from tests.integration import moto_server
from tests.integration.dns import servers

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(sys.executable).parent
DEFINITION = ROOT / "docs" / "execution-environment.yml"
AWX_DOC = ROOT / "docs" / "awx.md"
# ansible-builder drops these from every collection's list because each EE has them already: ansible-core requires
# them (test_what_ansible_builder_leaves_out_comes_with_ansible_core keeps that true).
PROVIDED_BY_ANSIBLE_CORE = {"pyyaml"}
# Where the build's galaxy stage installs collections and its introspection reads them (the Containerfile's paths).
IMAGE_COLLECTIONS = '--collections-path "/usr/share/ansible/collections"'
ANNOTATION = "  # from collection mailsec.mx"


def run(*command, env=None, cwd=None, ok=True):
    result = subprocess.run([str(part) for part in command], env=env, cwd=cwd, capture_output=True, text=True,
                            timeout=600, check=False)
    if ok:
        assert result.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(map(str, command)), result.stdout, result.stderr)
    return result


def ansible_env(home, **extra):
    """The environment of an Ansible command: none of the machine's MAILSEC_ or AWS_ settings, no AWS files, no
    instance metadata service (boto3 would ask 169.254.169.254 when it finds no credentials)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("MAILSEC_", "AWS_", "ANSIBLE_"))}
    env.update(ANSIBLE_HOME=str(home / ".ansible"), ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", AWS_CONFIG_FILE=str(home / "no-aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"), AWS_EC2_METADATA_DISABLED="true")
    env.update(extra)
    return env


@pytest.fixture(name="tarball", scope="module")
def fixture_tarball(tmp_path_factory):
    build = tmp_path_factory.mktemp("build")
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", build, ROOT, env=ansible_env(build))
    tarballs = list(build.glob("mailsec-mx-*.tar.gz"))
    assert len(tarballs) == 1
    return tarballs[0]


# --- the execution environment ----------------------------------------------------------------------------------

def user_definition(tarball):
    """docs/execution-environment.yml with the collection from the tarball instead of Galaxy (the one change)."""
    definition = yaml.safe_load(DEFINITION.read_text())
    assert [entry["name"] for entry in definition["dependencies"]["galaxy"]["collections"]] == ["mailsec.mx"]
    definition["dependencies"]["galaxy"] = {"collections": [{"name": str(tarball), "type": "file"}]}
    return definition


@pytest.fixture(name="context", scope="module")
def fixture_context(tmp_path_factory, tarball):
    """The build context ``ansible-builder create`` writes."""
    work = tmp_path_factory.mktemp("ee")
    (work / "execution-environment.yml").write_text(yaml.safe_dump(user_definition(tarball)))
    run(BIN / "ansible-builder", "create", "-f", "execution-environment.yml", "-c", "context", "--output-filename",
        "Containerfile", cwd=work, env=ansible_env(work))
    return work / "context"


@pytest.fixture(name="installed", scope="module")
def fixture_installed(tmp_path_factory, context):
    """The collections path as the build's galaxy stage leaves it (its command, run in the context's _build)."""
    target = tmp_path_factory.mktemp("image") / "collections"
    run(BIN / "ansible-galaxy", "collection", "install", "-r", "requirements.yml", "--collections-path", target,
        cwd=context / "_build", env=ansible_env(target.parent, ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1"))
    assert (target / "ansible_collections" / "mailsec" / "mx" / "MANIFEST.json").is_file()
    return target


def listed(path):
    """The entries of a requirements or bindep file as ansible-builder reads them: no blank line, no comment."""
    lines = (re.sub(r"(?:^|\s+)#.*$", "", line.strip()) for line in pathlib.Path(path).read_text().splitlines())
    return [line for line in lines if line]


def expected():
    python = [line for line in listed(ROOT / "requirements.txt") if Requirement(line).name.lower() not in PROVIDED_BY_ANSIBLE_CORE]
    return {"python": python, "system": listed(ROOT / "bindep.txt")}


def introspect(context, collections, out):
    """The build context's introspection script, as the Containerfile's builder stage runs it: (code, output, found)."""
    out.mkdir(parents=True, exist_ok=True)
    files = {"python": out / "requirements.txt", "system": out / "bindep.txt"}
    result = run(sys.executable, context / "_build" / "scripts" / "introspect.py", "introspect", collections,
                 "--write-pip=%s" % files["python"], "--write-bindep=%s" % files["system"], ok=False)
    found = {kind: path.read_text().splitlines() if path.exists() else [] for kind, path in files.items()}
    return result.returncode, result.stdout + result.stderr, {kind: [line for line in lines if line] for kind, lines in found.items()}


def dependency_problems(context, collections, out):
    """What the build would install that differs from requirements.txt and bindep.txt, one line per problem."""
    code, output, found = introspect(context, collections, out)
    if code != 0:
        return ["the introspection failed (exit %d): %s" % (code, (output.strip().splitlines() or [""])[-1])]
    problems = []
    for kind, wanted in expected().items():
        # ansible-builder marks each entry with its collection, except Python lines it cannot parse as PEP 508.
        got = [line[:-len(ANNOTATION)] if line.endswith(ANNOTATION) else line for line in found[kind]]
        problems += ["%s: missing %r" % (kind, entry) for entry in wanted if entry not in got]
        problems += ["%s: unexpected %r" % (kind, entry) for entry in got if entry not in wanted]
        if sorted(got) == sorted(wanted) and len(got) != len(set(got)):
            problems.append("%s: an entry is listed twice" % kind)
    return problems


def test_the_definition_installs_what_the_collection_supports():
    definition = yaml.safe_load(DEFINITION.read_text())
    dependencies = definition["dependencies"]
    assert definition["version"] == 3
    core = Requirement(dependencies["ansible_core"]["package_pip"])
    supported = SpecifierSet(yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())["requires_ansible"])
    tested = re.search(r"^ansible-core==(\S+)$", (ROOT / "requirements-dev.txt").read_text(), re.M).group(1)
    assert core.name == "ansible-core" and tested in core.specifier
    for version in ("2.17.0", "2.18.19", "2.19.0", tested, "2.20.0"):
        assert version not in core.specifier or version in supported, version
    interpreter = re.fullmatch(r"/usr/bin/python(\d+)\.(\d+)", dependencies["python_interpreter"]["python_path"])
    assert dependencies["python_interpreter"]["package_system"] == "python%s.%s" % interpreter.groups()
    assert "%s.%s.0" % interpreter.groups() in SpecifierSet(importlib.metadata.metadata("ansible-core")["Requires-Python"])


def test_create_writes_a_build_that_installs_the_collection_and_introspects_it(context, tarball):
    containerfile = (context / "Containerfile").read_text()
    assert yaml.safe_load((context / "_build" / "requirements.yml").read_text()) == {
        "collections": [{"name": str(tarball), "type": "file"}]}
    install = [line for line in containerfile.splitlines() if "ansible-galaxy collection install" in line]
    assert len(install) == 1 and "-r requirements.yml " + IMAGE_COLLECTIONS in install[0]
    assert "RUN $PYCMD /output/scripts/introspect.py introspect --write-bindep=/tmp/src/bindep.txt " \
           "--write-pip=/tmp/src/requirements.txt" in containerfile
    assert "RUN /output/scripts/install-from-bindep" in containerfile
    assert (context / "_build" / "scripts" / "introspect.py").is_file()


def test_the_build_finds_exactly_our_python_and_system_requirements(context, installed, tmp_path):
    assert dependency_problems(context, installed, tmp_path) == []
    _code, _output, found = introspect(context, installed, tmp_path / "again")
    assert [line[:-len(ANNOTATION)] for line in found["python"]] == expected()["python"]
    assert [line[:-len(ANNOTATION)] for line in found["system"]] == expected()["system"]


def test_ansible_builder_introspect_finds_the_same(context, installed, tmp_path):
    output = run(BIN / "ansible-builder", "introspect", installed, cwd=tmp_path, env=ansible_env(tmp_path)).stdout
    data = yaml.safe_load(output.split("\n---\n", 1)[1])
    _code, _output, found = introspect(context, installed, tmp_path / "script")
    assert data == found


def test_what_ansible_builder_leaves_out_comes_with_ansible_core():
    listed_names = {Requirement(line).name.lower() for line in listed(ROOT / "requirements.txt")}
    core_names = {Requirement(line).name.lower() for line in importlib.metadata.requires("ansible-core")}
    assert PROVIDED_BY_ANSIBLE_CORE <= listed_names & core_names


def drop_line(path, start):
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if not line.startswith(start)]
    assert len(kept) == len(lines) - 1
    path.write_text("".join(kept))


def point_metadata(path, kind, target):
    metadata = yaml.safe_load(path.read_text())
    metadata["dependencies"][kind] = target
    path.write_text(yaml.safe_dump(metadata))


MUTATIONS = {
    "requirements.txt loses dnspython": (lambda mx: drop_line(mx / "requirements.txt", "dnspython"),
                                         "python: missing 'dnspython>=2.3.0'"),
    "bindep.txt loses ipset": (lambda mx: drop_line(mx / "bindep.txt", "ipset"),
                               "system: missing 'ipset [platform:dpkg platform:rpm]'"),
    "the metadata names bindep.txt for python": (lambda mx: point_metadata(mx / "meta" / "execution-environment.yml", "python", "bindep.txt"),
                                                 "python: unexpected 'nftables [platform:dpkg platform:rpm]'"),
    "the metadata names a file the tarball leaves out": (
        lambda mx: point_metadata(mx / "meta" / "execution-environment.yml", "system", "requirements-dev.txt"),
        "the introspection failed"),
    "the metadata names no system file": (lambda mx: point_metadata(mx / "meta" / "execution-environment.yml", "system", None),
                                          "system: missing 'bind-utils [platform:rpm]'"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_a_lost_entry_or_a_wrong_metadata_path_is_a_problem(context, installed, tmp_path, mutation):
    change, problem = MUTATIONS[mutation]
    copy = tmp_path / "collections"
    shutil.copytree(installed, copy)
    change(copy / "ansible_collections" / "mailsec" / "mx")
    problems = dependency_problems(context, copy, tmp_path / "out")
    assert any(line.startswith(problem) for line in problems), problems


# --- docs/awx.md: the project, the inventory, the schedules --------------------------------------------------------

def doc_files():
    """{path: text} of the blocks docs/awx.md introduces with their file name (`path`:)."""
    return dict(re.findall(r"^`([\w./-]+)`:\n\n```yaml\n(.*?)^```", AWX_DOC.read_text(), re.M | re.S))


def awx_lists_as_playbook(text):
    """AWX's project scan offers a file as a playbook when a line starts with hosts:, include: or import_playbook:."""
    return any(re.match(r"\s*-?\s*(hosts|include|import_playbook):", line) for line in text.splitlines())


@pytest.fixture(name="project")
def fixture_project(tmp_path, tarball):
    """The project of docs/awx.md, with the collection installed from it as a project sync does (from the tarball)."""
    files = doc_files()
    assert sorted(files) == ["collections/requirements.yml", "harden_mx.yml", "inventory/hosts.yml", "nolisting_audit.yml"]
    project = tmp_path / "project"
    for path, text in files.items():
        (project / path).parent.mkdir(parents=True, exist_ok=True)
        (project / path).write_text(text)
    requirements = yaml.safe_load(files["collections/requirements.yml"])
    assert [entry["name"] for entry in requirements["collections"]] == ["mailsec.mx"]
    requirements["collections"] = [{"name": str(tarball), "type": "file"}]
    (tmp_path / "requirements.yml").write_text(yaml.safe_dump(requirements))
    synced = tmp_path / "requirements_collections"
    run(BIN / "ansible-galaxy", "collection", "install", "-r", tmp_path / "requirements.yml", "-p", synced, env=ansible_env(tmp_path))
    return project, synced


@pytest.mark.parametrize("playbook", ["harden_mx.yml", "nolisting_audit.yml"])
def test_the_project_playbooks_are_listed_by_awx_and_import_the_collections_playbooks(project, tmp_path, playbook):
    path, synced = project
    assert awx_lists_as_playbook((path / playbook).read_text())
    # Only the synced collection is on the path: the one in this checkout must not be what resolves.
    env = ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(synced))
    unsynced = run(BIN / "ansible-playbook", "--syntax-check", "-i", "inventory/hosts.yml", playbook, cwd=path, ok=False,
                   env=ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "nothing-synced")))
    assert unsynced.returncode != 0 and "mailsec.mx." + playbook[:-len(".yml")] in unsynced.stdout + unsynced.stderr
    result = run(BIN / "ansible-playbook", "--syntax-check", "-i", "inventory/hosts.yml", playbook, cwd=path, env=env)
    assert "WARNING" not in result.stdout + result.stderr, result.stdout + result.stderr
    listing = run(BIN / "ansible-playbook", "--list-tasks", "-i", "inventory/hosts.yml", playbook, cwd=path, env=env).stdout
    assert "mailsec.mx" in listing


def test_the_inventory_has_the_groups_and_a_layout_without_errors_and_no_secret(project, tmp_path):
    path, _synced = project
    inventory = json.loads(run(BIN / "ansible-inventory", "-i", path / "inventory/hosts.yml", "--list",
                               env=ansible_env(tmp_path)).stdout)
    for group in ("dead_primary", "mx_trap", "mx_live"):
        assert inventory[group]["hosts"], group
    variables = inventory["_meta"]["hostvars"]["mail.example.org"]
    assert [problem for problem in layout_problems(variables["mx_layout"]) if problem["severity"] == "error"] == []
    assert not [name for name in variables if re.search(r"secret|api_key|aws_", name)]


def test_the_schedules_are_nightly_rules_awx_accepts():
    text = AWX_DOC.read_text()
    templates = set(re.findall(r"^\| (mailsec [^|]+?) \| `", text, re.M))
    schedules = re.findall(r"^\| (nightly [^|]+?) \| ([^|]+?) \| `([^`]+)` \|$", text, re.M)
    assert {name for name, _template, _rule in schedules} == {"nightly nolisting audit", "nightly drift check"}
    for _name, template, text_rule in schedules:
        assert template in templates
        # AWX wants one DTSTART with its time zone (here UTC) and one RRULE with an INTERVAL.
        assert re.fullmatch(r"DTSTART:\d{8}T\d{6}Z RRULE:[A-Z=;0-9,]+", text_rule) and "INTERVAL=" in text_rule
        runs = list(rrule.rrulestr(text_rule.replace(" ", "\n"))[:3])
        assert [later - earlier for earlier, later in zip(runs, runs[1:])] == [datetime.timedelta(days=1)] * 2
        assert runs[0].tzinfo is not None and runs[0].utcoffset() == datetime.timedelta(0)


# --- docs/awx.md: the credential types ------------------------------------------------------------------------------

def credential_types():
    """{name: (inputs, injectors)} of the doc's '### <name>' sections with an input and an injector configuration."""
    found = {}
    for name, body in re.findall(r"^### (mailsec\.mx [^\n]+)\n(.*?)(?=^##)", AWX_DOC.read_text(), re.M | re.S):
        blocks = dict(re.findall(r"^(Input|Injector) configuration:\n\n```yaml\n(.*?)^```", body, re.M | re.S))
        found[name] = (yaml.safe_load(blocks["Input"]), yaml.safe_load(blocks["Injector"]))
    return found


def awx_format_problems(inputs, injectors):
    """The rules AWX applies when a credential type is saved (its input and injector schemas, the env var names it
    refuses, the injector templates rendered strictly against the defined fields)."""
    problems = []
    if set(inputs) - {"fields", "required"}:
        problems.append("inputs: unknown keys %s" % sorted(set(inputs) - {"fields", "required"}))
    ids = [field.get("id") for field in inputs.get("fields", [])]
    for field in inputs.get("fields", []):
        if set(field) - {"id", "type", "label", "help_text", "multiline", "secret", "ask_at_runtime", "default", "format", "choices"}:
            problems.append("field %s: unknown keys" % field.get("id"))
        if not re.fullmatch(r"[a-zA-Z_]+[a-zA-Z0-9_]*", str(field.get("id"))) or "label" not in field:
            problems.append("field %s: needs an id (a variable name) and a label" % field.get("id"))
        if field.get("type", "string") not in ("string", "boolean"):
            problems.append("field %s: type %s" % (field["id"], field["type"]))
    if len(ids) != len(set(ids)) or not set(inputs.get("required", [])) <= set(ids):
        problems.append("inputs: duplicate ids or required ids that are not fields")
    if set(injectors) - {"env", "extra_vars", "file"}:
        problems.append("injectors: unknown keys %s" % sorted(set(injectors) - {"env", "extra_vars", "file"}))
    for kind in ("env", "extra_vars"):
        for name, template in injectors.get(kind, {}).items():
            if not re.fullmatch(r"[a-zA-Z_]+[a-zA-Z0-9_]*", name) or not isinstance(template, str):
                problems.append("%s %s: a variable name and a string template" % (kind, name))
            if kind == "env" and name.startswith("ANSIBLE_"):
                problems.append("env %s: AWX refuses ANSIBLE_* variables" % name)
            try:
                jinja2.sandbox.ImmutableSandboxedEnvironment(undefined=jinja2.StrictUndefined).from_string(template).render(
                    {field_id: "EXAMPLE" for field_id in ids})
            except jinja2.TemplateError as error:
                problems.append("%s %s: %s" % (kind, name, error))
    return problems


def render(injectors, given):
    """What AWX injects for a credential with the inputs given: (env, extra_vars). Unset fields render empty."""
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment()
    return ({name: environment.from_string(template).render(**given) for name, template in injectors.get("env", {}).items()},
            {name: environment.from_string(template).render(**given) for name, template in injectors.get("extra_vars", {}).items()})


def env_fallbacks(module):
    """The environment variables the module's argument spec falls back to (fallback=(env_fallback, [...]))."""
    found = set()
    for node in ast.walk(ast.parse((ROOT / "plugins" / "modules" / (module + ".py")).read_text())):
        if isinstance(node, ast.keyword) and node.arg == "fallback" and isinstance(node.value, ast.Tuple):
            found.update(ast.literal_eval(node.value.elts[1]))
    return found


TSIG, POWERDNS, AWS = "mailsec.mx TSIG key", "mailsec.mx PowerDNS API key", "mailsec.mx AWS keys"


def test_the_credential_types_have_awx_format_and_inject_what_the_modules_read():
    types = credential_types()
    assert sorted(types) == sorted([TSIG, POWERDNS, AWS])
    for name, (inputs, injectors) in types.items():
        assert awx_format_problems(inputs, injectors) == [], name
        secret = {field["id"] for field in inputs["fields"] if field.get("secret")}
        # A secret goes into the environment only, never into extra vars (they show in the job's variables).
        assert not [template for template in injectors.get("extra_vars", {}).values() if any(s in template for s in secret)]
        assert secret <= {field for template in injectors["env"].values() for field in re.findall(r"{{ (\w+) }}", template)}
    assert set(types[TSIG][1]["env"]) == env_fallbacks("rfc2136_record_set") == {"MAILSEC_TSIG_SECRET"}
    assert set(types[POWERDNS][1]["env"]) == env_fallbacks("powerdns_record_set") == {"MAILSEC_POWERDNS_API_KEY"}
    assert set(types[TSIG][1]["extra_vars"]) == {"mx_records_key_name"}
    provider = botocore.credentials.EnvProvider
    assert set(types[AWS][1]["env"]) == {provider.ACCESS_KEY, provider.SECRET_KEY, "AWS_SESSION_TOKEN"}
    assert "AWS_SESSION_TOKEN" in provider.TOKENS and "AWS_SECURITY_TOKEN" in provider.TOKENS
    # The doc: an unset session token is injected empty, and boto3 takes that as no token.
    env, _extra_vars = render(types[AWS][1], {"access_key_id": "AKIAEXAMPLE", "secret_access_key": "example"})
    assert env["AWS_SESSION_TOKEN"] == "" and provider(environ=env).load().token is None


def test_awx_format_problems_finds_what_awx_refuses():
    inputs, injectors = credential_types()[TSIG]
    assert awx_format_problems(inputs, dict(injectors, env={"ANSIBLE_TSIG": "{{ key_secret }}"}))
    assert awx_format_problems(inputs, dict(injectors, env={"MAILSEC_TSIG_SECRET": "{{ tsig_secret }}"}))
    assert awx_format_problems(dict(inputs, required=["key_secret", "key_file"]), injectors)
    assert awx_format_problems(inputs, dict(injectors, files={"template": "x"}))


# --- each credential type lets a real publication through, and nothing else does ---------------------------------

LAYOUT = [
    {"preference": 10, "host": "nolist.example.test", "role": "dead", "addresses": ["203.0.113.10"]},
    {"preference": 20, "host": "mail.example.test", "role": "live", "addresses": ["203.0.113.20"]},
]
MX = ["10 nolist.example.test.", "20 mail.example.test."]
ZONE = "example.test."


def publish(tmp_path, variables, env=None, extra_vars=None):
    """The publish step of harden_mx.yml (the mx_records role on localhost) as AWX runs it: ``variables`` in the
    inventory's ``all`` group (the implicit localhost reads them), the credential's env, and its extra vars in a file
    the way AWX writes it (each value !unsafe) given with -e @file. Returns (code, output)."""
    playbook = tmp_path / "publish.yml"
    playbook.write_text(yaml.safe_dump([{"name": "Publish", "hosts": "localhost", "gather_facts": False,
                                         "roles": [{"role": "mailsec.mx.mx_records"}]}]))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {"vars": dict(
        {"mx_records_zone": ZONE, "mx_records_layout": LAYOUT, "mx_records_ttl": 300}, **variables)}}))
    command = [BIN / "ansible-playbook", "-v", "-i", inventory]
    if extra_vars:
        injected = tmp_path / "credential-extra-vars.yml"
        injected.write_text("".join("%s: !unsafe %s\n" % (name, json.dumps(value)) for name, value in extra_vars.items()))
        command += ["-e", "@%s" % injected]
    result = run(*command, playbook, cwd=tmp_path, ok=False,
                 env=ansible_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), **(env or {})))
    return result.returncode, result.stdout + result.stderr


def check_credential(tmp_path, name, given, variables, published, refusal):
    """Without the credential the run fails with ``refusal`` and publishes nothing; with the credential's env and extra
    vars, rendered from ``given`` as AWX renders them, the layout is published and no secret shows."""
    inputs, injectors = credential_types()[name]
    env, extra_vars = render(injectors, given)
    code, output = publish(tmp_path, variables)
    assert code != 0 and refusal in output, output
    assert published() == [], output
    code, output = publish(tmp_path, variables, env, extra_vars)
    assert code == 0, output
    assert published() == MX
    for field in inputs["fields"]:
        if field.get("secret") and given.get(field["id"]):
            assert given[field["id"]] not in output, field["id"]


def test_the_tsig_credential_publishes_into_bind(tmp_path):
    bind = servers.start_bind(tmp_path / "bind", [ZONE])
    try:
        check_credential(tmp_path, TSIG, {"key_name": bind.key_name, "key_secret": bind.key_secret},
                         {"mx_records_provider": "rfc2136", "mx_records_server": bind.address, "mx_records_port": bind.port},
                         lambda: sorted(bind.query(ZONE, "MX")), "REFUSED")
    finally:
        bind.stop()


def test_the_powerdns_credential_publishes_through_the_api(tmp_path):
    powerdns = servers.start_powerdns(tmp_path / "powerdns", [ZONE])
    try:
        check_credential(tmp_path, POWERDNS, {"api_key": powerdns.api_key},
                         {"mx_records_provider": "powerdns", "mx_records_api_url": powerdns.api_url},
                         lambda: sorted(powerdns.query(ZONE, "MX")), "missing required arguments: api_key")
    finally:
        powerdns.stop()


def test_the_aws_credential_publishes_into_route53(tmp_path):
    # moto checks no signature here (its IAM authentication refuses even good keys for Route 53): what shows that the
    # keys came from the credential is the run without it, where boto3 finds no credentials at all.
    moto = moto_server.start_moto(tmp_path / "moto")
    try:
        zone_id = moto_server.create_zone(moto, ZONE)
        check_credential(tmp_path, AWS, {"access_key_id": moto.access_key, "secret_access_key": moto.secret_key,
                                         "session_token": "mailsec-test-session-token"},
                         {"mx_records_provider": "route53", "mx_records_aws_endpoint_url": moto.endpoint_url},
                         lambda: moto_server.records(moto, zone_id).get((ZONE, "MX"), []), "no AWS credentials found")
    finally:
        moto.stop()
