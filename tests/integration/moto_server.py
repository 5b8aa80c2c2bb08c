"""moto's fake AWS (Route 53, IAM, ...) in server mode on 127.0.0.1, for integration tests and benchmarks.

moto runs as a child process (``python -m moto.server``) on a free loopback port and keeps
everything in memory. Any access key works while authentication is off (the default); turn it
on with ``require_auth()`` after creating IAM users and keys to see credentials refused.

    server = start_moto(workdir)
    try:
        route53 = server.client("route53")
        route53.create_hosted_zone(Name="example.test.", CallerReference="1")
        # ... the module under test with endpoint_url=server.endpoint_url,
        #     access_key=server.access_key, secret_key=server.secret_key
    finally:
        server.stop()

API: ``start_moto(workdir, port=None) -> MotoServer`` with ``endpoint_url``, ``port``, ``access_key``,
``secret_key``, ``client(service, **kwargs)``, ``reset()`` (forget every resource),
``require_auth(enabled=True)``, ``running()``, ``log_tail()`` and ``stop()`` (safe to call twice).
From a playbook (molecule's harden_mx verify), as a command that leaves the server running in the background:
``python -m tests.integration.moto_server start --state-dir D --zone example.test`` prints
``{"endpoint_url": ..., "hosted_zone_id": ...}``; ``records --state-dir D --zone example.test`` prints
``{"name type": [values]}``; ``stop --state-dir D`` ends it.
Route 53 helpers, as someone else would change the zone: ``create_zone(server, zone, private=False) -> id``,
``put(server, zone_id, name, type, values, ttl=300)``, ``rrsets(server, zone_id)`` (every RRset exactly as
moto lists it) and ``records(server, zone_id)`` ({(name, type): sorted values}).
"""

import argparse
import atexit
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from tests.integration.dns.servers import ADDRESS, free_port, stop_process

STARTUP_TIMEOUT = 120.0  # a deadline, not a speed check: moto usually answers within a second or two
STOP_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0
# moto takes any key while authentication is off; these are what the tests and the bench hand the module.
ACCESS_KEY = "AKIAMAILSECTEST00001"
SECRET_KEY = "mailsec-moto-secret-key-not-a-real-one"
REGION = "us-east-1"

_RUNNING = set()


class MotoStartError(RuntimeError):
    """moto exited or did not answer in time; the message ends with its log."""


@dataclasses.dataclass(eq=False)
class MotoServer:
    endpoint_url: str
    port: int
    workdir: pathlib.Path
    process: subprocess.Popen = dataclasses.field(repr=False)
    log_path: pathlib.Path = dataclasses.field(repr=False)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    startup_seconds: float = 0.0

    def client(self, service="route53", **kwargs):
        """A boto3 client for ``service`` on this server (the test key unless others are given)."""
        # Imported here: only the tests and the bench need boto3, not every importer of this module.
        import boto3  # pylint: disable=import-outside-toplevel

        options = dict(endpoint_url=self.endpoint_url, region_name=self.region, aws_access_key_id=self.access_key,
                       aws_secret_access_key=self.secret_key)
        options.update(kwargs)
        return boto3.client(service, **options)

    def reset(self):
        """Forget every resource (zones, records, IAM users)."""
        self._post("/moto-api/reset", b"")

    def require_auth(self, enabled=True):
        """With ``enabled``, every request must be signed by an access key moto's IAM knows and be allowed by its policies."""
        # moto counts requests before it starts checking; 0 checks from the next one, inf never.
        self._post("/moto-api/reset-auth", b"0" if enabled else b"inf")

    def running(self):
        return self.process.poll() is None

    def log_tail(self, lines=40):
        text = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self):
        """TERM, wait, KILL if it must; safe to call more than once."""
        stop_process(self.process, STOP_TIMEOUT)
        _RUNNING.discard(self)

    def _post(self, path, body):
        # A body type Flask leaves alone: as a form it would parse the count away.
        request = urllib.request.Request(self.endpoint_url + path, data=body, method="POST",
                                         headers={"Content-Type": "application/octet-stream"})
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:
            return json.loads(response.read() or b"{}")


def start_moto(workdir, port=None):
    """Start moto on 127.0.0.1 (a free port unless given), logging to ``workdir``/moto.log; return once it answers."""
    workdir = pathlib.Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    port = port if port is not None else free_port()
    log_path = workdir / "moto.log"
    # moto needs no credentials of its own; nothing from the caller's AWS setup should steer it.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "MOTO_", "TEST_SERVER_MODE"))}
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", ADDRESS, "-p", str(port)], cwd=workdir, env=env,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    server = MotoServer(endpoint_url="http://%s:%d" % (ADDRESS, port), port=port, workdir=workdir, process=process, log_path=log_path)
    _RUNNING.add(server)
    try:
        _wait_until_answering(server, started + STARTUP_TIMEOUT)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def _wait_until_answering(server, deadline):
    while True:
        if not server.running():
            raise MotoStartError("moto on %s exited with status %s; log %s ends with:\n%s"
                                 % (server.endpoint_url, server.process.returncode, server.log_path, server.log_tail()))
        try:
            with urllib.request.urlopen(server.endpoint_url + "/moto-api/data.json", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise MotoStartError("moto on %s did not answer within %.0f s; log %s ends with:\n%s"
                                 % (server.endpoint_url, STARTUP_TIMEOUT, server.log_path, server.log_tail()))
        time.sleep(0.05)


def create_zone(server, zone, private=False, vpc_id="vpc-0mailsec0test"):
    """A hosted zone (public, or private to a VPC moto takes on trust); returns its bare id (no /hostedzone/)."""
    options = {"Name": zone, "CallerReference": "mailsec-%s-%s-%d" % (zone, "private" if private else "public", time.monotonic_ns())}
    if private:
        options.update(HostedZoneConfig={"PrivateZone": True, "Comment": "private"}, VPC={"VPCRegion": server.region, "VPCId": vpc_id})
    return server.client().create_hosted_zone(**options)["HostedZone"]["Id"].rsplit("/", 1)[-1]


def put(server, zone_id, name, rtype, values, ttl=300):
    """CREATE one RRset in the zone, as another tool would."""
    rrset = {"Name": name, "Type": rtype, "TTL": ttl, "ResourceRecords": [{"Value": value} for value in values]}
    server.client().change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrset}]})


def rrsets(server, zone_id):
    """Every RRset of the zone exactly as moto lists it (all pages), for byte-for-byte comparisons."""
    client, found, params = server.client(), [], {"HostedZoneId": zone_id}
    while True:
        answer = client.list_resource_record_sets(**params)
        found.extend(answer["ResourceRecordSets"])
        if not answer["IsTruncated"]:
            return found
        params = {"HostedZoneId": zone_id, "StartRecordName": answer["NextRecordName"], "StartRecordType": answer["NextRecordType"]}


def records(server, zone_id):
    """{(name, type): sorted values} of the zone."""
    return {(rrset["Name"], rrset["Type"]): sorted(record["Value"] for record in rrset.get("ResourceRecords", []))
            for rrset in rrsets(server, zone_id)}


@atexit.register
def _stop_all():
    for server in list(_RUNNING):
        server.stop()


def _state_file(state_dir):
    return pathlib.Path(state_dir) / "moto.json"


def _attached(state):
    """A MotoServer for a server another command started (its client, no process to manage)."""
    return MotoServer(endpoint_url=state["endpoint_url"], port=state["port"], workdir=pathlib.Path(state["workdir"]),
                      process=None, log_path=pathlib.Path(state["workdir"]) / "moto.log")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.integration.moto_server", description=__doc__.split("\n", 1)[0])
    parser.add_argument("action", choices=["start", "records", "stop"])
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--zone", default="")
    args = parser.parse_args(argv)
    state_file = _state_file(args.state_dir)
    if args.action == "start":
        server = start_moto(args.state_dir)
        _RUNNING.discard(server)  # it outlives this command; "stop" ends it
        state = {"endpoint_url": server.endpoint_url, "port": server.port, "workdir": str(server.workdir), "pid": server.process.pid,
                 "zones": {args.zone: create_zone(server, args.zone)} if args.zone else {}}
        state_file.write_text(json.dumps(state))
        print(json.dumps({"endpoint_url": server.endpoint_url, "hosted_zone_id": state["zones"].get(args.zone)}))
        return 0
    state = json.loads(state_file.read_text())
    if args.action == "records":
        found = records(_attached(state), state["zones"][args.zone])
        print(json.dumps({"%s %s" % key: values for key, values in sorted(found.items())}))
        return 0
    try:
        os.kill(state["pid"], signal.SIGTERM)
    except ProcessLookupError:
        return 0
    deadline = time.monotonic() + STOP_TIMEOUT
    while pathlib.Path("/proc/%d" % state["pid"]).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    if pathlib.Path("/proc/%d" % state["pid"]).exists():
        os.kill(state["pid"], signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
