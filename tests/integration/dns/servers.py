"""Real authoritative DNS servers (BIND 9, Knot DNS, PowerDNS) on 127.0.0.1 for integration tests and benchmarks.

Each server runs from its Debian package as a child process in a private work directory, serves
the zones it is given (a SOA, an NS ``ns.<zone>`` and an A record for ``ns.<zone>``, nothing else)
and accepts RFC 2136 updates signed with one TSIG key.  Everything stays on loopback: the servers
listen on 127.0.0.1 only, and what would send traffic elsewhere (NOTIFY to the zones' name
servers, PowerDNS's security poll) or take a fixed port (BIND's rndc channel) is switched off.

    server = start_bind(workdir, ["example.test."])
    try:
        server.query("example.test.", "SOA")
    finally:
        server.stop()

A test that brings its own zone gives its text (``zone_texts={zone: text}``, written into the work
directory) or a file to serve as it is (``zone_files={zone: path}``, for a file a module edited; the
server only reads it). BIND resolves relative ``$INCLUDE`` paths against its ``directory`` (the work
directory unless ``directory=`` says otherwise), Knot against the zone file's own directory.
"""

import atexit
import base64
import dataclasses
import json
import pathlib
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsigkeyring

ADDRESS = "127.0.0.1"
KEY_NAME = "mailsec-key."
KEY_ALGORITHM = "hmac-sha256"
NS_ADDRESS = "203.0.113.53"
TTL = 300
SOA_TIMERS = "1 3600 600 86400 300"  # serial refresh retry expire negative-ttl
# Deadlines, not speed checks: generous, so that a busy machine never fails a test (a server
# usually answers within a second; startup_seconds records how long it took).
STARTUP_TIMEOUT = 120.0
PER_ZONE_SECONDS = 0.1  # on top of STARTUP_TIMEOUT: PowerDNS takes about 7 ms a zone to create through its API
STOP_TIMEOUT = 60.0
QUERY_TIMEOUT = 30.0
# Drawn below the kernel's ephemeral range (32768-60999 by default), so the local end of some
# outgoing connection cannot take the port between our check and the server's bind.
PORT_RANGE = (20000, 32000)
# AF_UNIX paths hold at most 108 bytes; knotd and pdns_server refuse to start when their
# control socket's path is longer, which deep pytest tmp_path directories can reach.
MAX_SOCKET_PATH = 100
PDNS_SCHEMA = pathlib.Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql")
PDNS_SERVER_ID = "localhost"
BINARIES = {"bind": "named", "knot": "knotd", "powerdns": "pdns_server"}

_RUNNING = set()  # servers not stopped yet: a safety net stops them when the interpreter exits


class ServerStartError(RuntimeError):
    """The server exited or did not answer for all its zones in time; the message ends with its log."""


@dataclasses.dataclass(eq=False)
class DnsServer:
    """A running server and what a client needs to talk to it."""

    kind: str
    address: str
    port: int
    zones: list[str]
    key_name: str
    key_secret: str
    key_algorithm: str
    workdir: pathlib.Path
    process: subprocess.Popen = dataclasses.field(repr=False)
    log_path: pathlib.Path = dataclasses.field(repr=False)
    api_url: str | None = None
    api_key: str | None = None
    server_id: str | None = None
    startup_seconds: float = 0.0  # from spawning the process to every zone answering SOA
    scratch_dirs: list[pathlib.Path] = dataclasses.field(default_factory=list, repr=False)  # removed by stop()

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process.poll() is None

    def keyring(self):
        """The TSIG keyring for dnspython (dns.update.UpdateMessage(..., keyring=..., keyname=server.key_name))."""
        return dns.tsigkeyring.from_text({self.key_name: self.key_secret})

    def query(self, name, rdtype):
        """The rdata texts the server answers over TCP for name/rdtype; empty for NXDOMAIN and NODATA."""
        qname = dns.name.from_text(name)
        qtype = dns.rdatatype.RdataType.make(rdtype)
        response = dns.query.tcp(dns.message.make_query(qname, qtype), self.address, port=self.port, timeout=QUERY_TIMEOUT)
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return set()
        if rcode != dns.rcode.NOERROR:
            raise RuntimeError("%s answered %s for %s/%s" % (self.kind, dns.rcode.to_text(rcode), qname, dns.rdatatype.to_text(qtype)))
        answer = response.get_rrset(response.answer, qname, dns.rdataclass.IN, qtype)
        return {rdata.to_text() for rdata in answer} if answer else set()

    def api(self, method, path, body=None, api_key=None):
        """Call PowerDNS's HTTP API below /api/v1/servers/<server_id>; return (HTTP status, decoded JSON or text).

        api_key defaults to the server's own; pass another one to see it refused."""
        if self.api_url is None:
            raise ValueError("%s has no HTTP API" % self.kind)
        url = "%s/api/v1/servers/%s%s" % (self.api_url, self.server_id, path)
        return _http_json(url, self.api_key if api_key is None else api_key, method, body)

    def log(self):
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self):
        """TERM, wait, KILL if it must; safe to call more than once."""
        stop_process(self.process)
        for directory in self.scratch_dirs:
            shutil.rmtree(directory, ignore_errors=True)
        self.scratch_dirs.clear()
        _RUNNING.discard(self)


def stop_process(process, timeout=STOP_TIMEOUT):
    """TERM a child process, wait for it, KILL it if it must; nothing when it has ended already."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def binary(kind):
    """Path of the kind's server binary, or None when its package is not installed."""
    name = BINARIES[kind]
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")


def missing(kind):
    """Why the kind cannot be started here (for pytest.skip), or None when it can."""
    if binary(kind) is None:
        return "%s is not installed (%s)" % (BINARIES[kind], kind)
    if kind == "powerdns" and not PDNS_SCHEMA.exists():
        return "pdns-backend-sqlite3 is not installed (no %s)" % PDNS_SCHEMA
    return None


def running_servers():
    """Servers started here and not stopped yet."""
    return list(_RUNNING)


def port_is_free(port, address=ADDRESS):
    """True when both UDP and TCP can bind address:port right now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            if kind == socket.SOCK_STREAM:
                # As the servers do: connections in TIME_WAIT from an earlier user do not hold the port.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


def new_secret():
    """A random 256-bit TSIG secret, base64."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def free_port(exclude=()):
    """A port in PORT_RANGE that is free on 127.0.0.1 for both UDP and TCP, other than those in exclude."""
    for _attempt in range(500):
        port = PORT_RANGE[0] + secrets.randbelow(PORT_RANGE[1] - PORT_RANGE[0])
        if port not in exclude and port_is_free(port):
            return port
    raise RuntimeError("no free port in %d-%d on %s" % (PORT_RANGE + (ADDRESS,)))


def start_bind(workdir, zones, port=None, zone_texts=None, zone_files=None, directory=None):
    """named 9.18 in the foreground, zones primary with update-policy grant <key> zonesub ANY.

    zone_texts / zone_files: a zone's own text, or a file served where it is (see the module docstring);
    directory: named's ``directory`` option, where relative $INCLUDE paths resolve (default: workdir)."""
    workdir, zones, port = _prepare(workdir, zones, port)
    secret = new_secret()
    zone_files = _write_zone_files(workdir / "zones", zones, zone_texts, zone_files)
    config = workdir / "named.conf"
    config.write_text(_bind_config(workdir, port, secret, zone_files, directory), encoding="utf-8")
    # -4: no IPv6 sockets at all; as root named keeps running as root when -u is not given.
    return _start("bind", [binary("bind"), "-g", "-4", "-c", str(config)], workdir, zones, port, secret)


def start_knot(workdir, zones, port=None, zone_texts=None, zone_files=None):
    """knotd in the foreground, zones with an ACL allowing updates signed with the key.

    zone_texts / zone_files: a zone's own text, or a file served where it is (see the module docstring)."""
    workdir, zones, port = _prepare(workdir, zones, port)
    secret = new_secret()
    zone_files = _write_zone_files(workdir / "zones", zones, zone_texts, zone_files)
    (workdir / "db").mkdir()  # journal and timer databases; knotd does not create the directory
    rundir, scratch = _socket_dir(workdir, "knot.sock")
    config = workdir / "knot.conf"
    config.write_text(_knot_config(workdir, rundir, port, secret, zone_files), encoding="utf-8")
    return _start("knot", [binary("knot"), "-c", str(config)], workdir, zones, port, secret, scratch_dirs=scratch)


def start_powerdns(workdir, zones, port=None, dnsupdate=True):
    """pdns_server with the gsqlite3 backend and its HTTP API; zones (kind Native) are created through the API.

    The key is always imported and allowed per zone (TSIG-ALLOW-DNSUPDATE); dnsupdate only turns
    RFC 2136 on or off, so dnsupdate=False gives a server that refuses every UPDATE."""
    workdir, zones, port = _prepare(workdir, zones, port)
    secret = new_secret()
    api_port = free_port(exclude=(port,))
    api_key = secrets.token_urlsafe(24)
    socket_dir, scratch = _socket_dir(workdir, "pdns.controlsocket")
    database = workdir / "pdns.sqlite3"
    _create_pdns_database(database)
    (workdir / "pdns.conf").write_text(_pdns_config(database, port, api_port, api_key, dnsupdate), encoding="utf-8")
    argv = [binary("powerdns"), "--config-dir=%s" % workdir, "--daemon=no", "--guardian=no", "--socket-dir=%s" % socket_dir]
    api = {"api_url": "http://%s:%d" % (ADDRESS, api_port), "api_key": api_key, "server_id": PDNS_SERVER_ID}
    return _start("powerdns", argv, workdir, zones, port, secret, scratch_dirs=scratch, configure=_configure_pdns, **api)


# --- common -------------------------------------------------------------------------------------

def _prepare(workdir, zones, port):
    workdir = pathlib.Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    # Stale journals or databases from an earlier server would be replayed onto the new zones.
    if any(workdir.iterdir()):
        raise ValueError("workdir %s must be empty or missing" % workdir)
    names = [dns.name.from_text(zone).to_text() for zone in zones]
    if not names or len(set(names)) != len(names):
        raise ValueError("zones must be a non-empty list without duplicates: %r" % (zones,))
    return workdir, names, port if port is not None else free_port()


def _zone_text(zone):
    return "\n".join([
        "$ORIGIN %s" % zone,
        "$TTL %d" % TTL,
        "@ IN SOA ns.%s hostmaster.%s %s" % (zone, zone, SOA_TIMERS),
        "@ IN NS ns.%s" % zone,
        "ns IN A %s" % NS_ADDRESS,
        "",
    ])


def _write_zone_files(directory, zones, zone_texts=None, zone_files=None):
    """{zone: path}: the default zone text, or the zone's own text (zone_texts), written into directory; a
    zone in zone_files is served from that path as it is (absolute, never written here)."""
    texts = _by_zone(zone_texts)
    given = _by_zone(zone_files)
    unknown = sorted((set(texts) | set(given)) - set(zones))
    if unknown or set(texts) & set(given):
        raise ValueError("zone_texts and zone_files must name zones of zones, each at most once: %r" % (unknown or sorted(set(texts) & set(given)),))
    directory.mkdir()
    files = {}
    for zone in zones:
        if zone in given:
            files[zone] = pathlib.Path(given[zone]).resolve()
            continue
        path = directory / ("%s.zone" % (zone.rstrip(".") or "root"))
        path.write_text(texts.get(zone, _zone_text(zone)), encoding="utf-8")
        files[zone] = path
    return files


def _by_zone(mapping):
    return {dns.name.from_text(zone).to_text(): value for zone, value in (mapping or {}).items()}


def _socket_dir(workdir, socket_name):
    """workdir when the socket path fits in AF_UNIX, else a short private directory that stop() removes."""
    if len(str(workdir / socket_name)) <= MAX_SOCKET_PATH:
        return workdir, []
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="dns-"))
    return scratch, [scratch]


def _start(kind, argv, workdir, zones, port, secret, scratch_dirs=(), configure=None, **extra):
    log_path = workdir / ("%s.log" % kind)
    started = time.monotonic()
    with open(log_path, "wb") as log_file:
        # Same process group as the caller on purpose: a Ctrl-C or a group kill of the test run reaches the server too.
        process = subprocess.Popen(argv, cwd=workdir, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    server = DnsServer(kind=kind, address=ADDRESS, port=port, zones=zones, key_name=KEY_NAME, key_secret=secret,
                       key_algorithm=KEY_ALGORITHM, workdir=workdir, process=process, log_path=log_path,
                       scratch_dirs=list(scratch_dirs), **extra)
    _RUNNING.add(server)
    try:
        deadline = started + _startup_timeout(zones)
        if configure is not None:
            configure(server, deadline)
        _wait_until_serving(server, deadline)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.monotonic() - started
    return server


def _startup_timeout(zones):
    return STARTUP_TIMEOUT + PER_ZONE_SECONDS * len(zones)


def _wait_until_serving(server, deadline):
    pending = list(server.zones)
    while pending:
        _check_alive(server)
        if _answers_soa(server, pending[0]):
            pending.pop(0)
        elif time.monotonic() > deadline:
            raise _start_error(server, "no SOA answer for %s within %.0f s" % (pending[0], _startup_timeout(server.zones)))
        else:
            time.sleep(0.05)


def _answers_soa(server, zone):
    query = dns.message.make_query(zone, dns.rdatatype.SOA)
    try:
        response = dns.query.udp(query, server.address, port=server.port, timeout=0.2)
    except (dns.exception.DNSException, OSError):
        return False  # not listening yet
    return response.rcode() == dns.rcode.NOERROR and any(rrset.rdtype == dns.rdatatype.SOA for rrset in response.answer)


def _check_alive(server):
    if server.process.poll() is not None:
        raise _start_error(server, "exited with status %s" % server.process.returncode)


def _start_error(server, reason):
    return ServerStartError("%s on %s#%d %s; log %s ends with:\n%s" % (
        server.kind, server.address, server.port, reason, server.log_path, server.log_tail()))


@atexit.register
def _stop_all():
    for server in list(_RUNNING):
        server.stop()


# --- BIND ---------------------------------------------------------------------------------------

def _bind_config(workdir, port, secret, zone_files, directory=None):
    zones = "".join(
        'zone "%s" { type primary; file "%s"; update-policy { grant %s zonesub ANY; }; };\n' % (zone, path, KEY_NAME)
        for zone, path in zone_files.items())
    return """options {
    directory "%(directory)s";
    pid-file "%(workdir)s/named.pid";
    managed-keys-directory "%(workdir)s";
    session-keyfile "%(workdir)s/session.key";
    listen-on port %(port)d { %(address)s; };
    listen-on-v6 { none; };
    recursion no;
    dnssec-validation no;
    // NOTIFY would go to ns.<zone>, whose address is off loopback.
    notify no;
};
// No rndc channel: it would take 127.0.0.1#953 and ::1#953 in every server.
controls { };
key "%(key)s" { algorithm %(algorithm)s; secret "%(secret)s"; };
%(zones)s""" % {"workdir": workdir, "directory": pathlib.Path(directory).resolve() if directory else workdir, "port": port,
                "address": ADDRESS, "key": KEY_NAME, "algorithm": KEY_ALGORITHM, "secret": secret, "zones": zones}


# --- Knot ---------------------------------------------------------------------------------------

def _knot_config(workdir, rundir, port, secret, zone_files):
    zones = "".join('  - domain: "%s"\n    file: "%s"\n' % (zone, path) for zone, path in zone_files.items())
    return """server:
    rundir: "%(rundir)s"
    listen: %(address)s@%(port)d
log:
  - target: stderr
    any: info
database:
    storage: "%(workdir)s/db"
key:
  - id: %(key)s
    algorithm: %(algorithm)s
    secret: %(secret)s
acl:
  - id: signed-update
    key: %(key)s
    action: update
template:
  - id: default
    storage: "%(workdir)s/zones"
    acl: signed-update
    # Updates live in the journal only: knotd never rewrites the zone files we wrote.
    zonefile-sync: -1
zone:
%(zones)s""" % {"rundir": rundir, "address": ADDRESS, "port": port, "workdir": workdir, "key": KEY_NAME,
                "algorithm": KEY_ALGORITHM, "secret": secret, "zones": zones}


# --- PowerDNS -----------------------------------------------------------------------------------

def _create_pdns_database(path):
    with sqlite3.connect(path) as connection:
        connection.executescript(PDNS_SCHEMA.read_text(encoding="utf-8"))
    connection.close()


def _pdns_config(database, port, api_port, api_key, dnsupdate):
    lines = [
        "launch=gsqlite3",
        "gsqlite3-database=%s" % database,
        "local-address=%s" % ADDRESS,
        "local-port=%d" % port,
        "api=yes",
        "api-key=%s" % api_key,
        "webserver=yes",
        "webserver-address=%s" % ADDRESS,
        "webserver-port=%d" % api_port,
        "webserver-allow-from=%s" % ADDRESS,
        "dnsupdate=%s" % ("yes" if dnsupdate else "no"),
        "allow-dnsupdate-from=%s/32" % ADDRESS,
        # An empty suffix turns off the security poll, a DNS lookup of a powerdns.com name at startup.
        "security-poll-suffix=",
        # No packet or query caches: a test reads back right after it writes.
        "cache-ttl=0",
        "negquery-cache-ttl=0",
        "query-cache-ttl=0",
        "disable-syslog=yes",
        "loglevel=6",
    ]
    return "\n".join(lines) + "\n"


def _configure_pdns(server, deadline):
    """Import the TSIG key and create the zones through the API once it answers."""
    _wait_for_api(server, deadline)
    _api_ok(server, "POST", "/tsigkeys", {"name": server.key_name, "algorithm": server.key_algorithm, "key": server.key_secret})
    for zone in server.zones:
        _api_ok(server, "POST", "/zones", _pdns_zone(zone))
        # Without this metadata PowerDNS applies any UPDATE from allow-dnsupdate-from, signed or not.
        _api_ok(server, "POST", "/zones/%s/metadata" % urllib.parse.quote(zone),
                {"kind": "TSIG-ALLOW-DNSUPDATE", "metadata": [server.key_name]})


def _pdns_zone(zone):
    def rrset(name, rdtype, content):
        return {"name": name, "type": rdtype, "ttl": TTL, "records": [{"content": content, "disabled": False}]}
    return {
        "name": zone,
        "kind": "Native",
        "nameservers": [],  # given as an rrset below, with the same TTL as the other records
        "rrsets": [
            rrset(zone, "SOA", "ns.%s hostmaster.%s %s" % (zone, zone, SOA_TIMERS)),
            rrset(zone, "NS", "ns.%s" % zone),
            rrset("ns.%s" % zone, "A", NS_ADDRESS),
        ],
    }


def _wait_for_api(server, deadline):
    while True:
        _check_alive(server)
        try:
            if server.api("GET", "")[0] == 200:
                return
        except OSError:
            pass  # not listening yet (URLError is an OSError)
        if time.monotonic() > deadline:
            raise _start_error(server, "HTTP API at %s did not answer in time" % server.api_url)
        time.sleep(0.05)


def _api_ok(server, method, path, body):
    status, answer = server.api(method, path, body)
    if status >= 300:
        raise _start_error(server, "API %s %s answered %d: %s" % (method, path, status, answer))
    return answer


# A urllib opener without proxies: an http_proxy from the environment must not see loopback API calls.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _http_json(url, api_key, method, body):
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers={"X-API-Key": api_key, "Content-Type": "application/json"})
    try:
        with _HTTP.open(request, timeout=QUERY_TIMEOUT) as response:
            return response.status, _decode(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _decode(error.read())


def _decode(payload):
    text = payload.decode("utf-8", errors="replace")
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text
