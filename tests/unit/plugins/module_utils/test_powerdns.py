"""The PowerDNS API provider with open_url replaced: read a zone's RRsets, re-read and PATCH once to write."""

import io
import json
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.mailsec.mx.plugins.module_utils import _powerdns
from ansible_collections.mailsec.mx.plugins.module_utils._powerdns import PowerDnsProvider
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, RecordSet, RecordSetError, converge_zone, plan

ZONE = "example.test."
API = "http://127.0.0.1:8081/"
URL = "http://127.0.0.1:8081/api/v1/servers/localhost/zones/example.test."
MX = RecordSet(ZONE, "MX", 3600, ["10 nolist.example.test.", "20 mail.example.test."])
MAIL_A = RecordSet("mail.example.test.", "A", 3600, ["198.51.100.20"])
NOLIST_AAAA = RecordSet("nolist.example.test.", "AAAA", 3600, ["2001:db8::10"])


def rrset(name, rtype, ttl, *contents, disabled=()):
    return {"name": name, "type": rtype, "ttl": ttl, "comments": [],
            "records": [{"content": content, "disabled": content in disabled} for content in contents]}


def zone(*rrsets):
    soa = rrset(ZONE, "SOA", 300, "ns.example.test. hostmaster.example.test. 1 3600 600 86400 300")
    return {"name": ZONE, "kind": "Native", "serial": 1, "rrsets": [soa, rrset(ZONE, "NS", 300, "ns.example.test.")] + list(rrsets)}


class Response:
    def __init__(self, body):
        self.body = body

    def read(self, size=-1):
        return self.body if size < 0 else self.body[:size]


class FakeApi:
    """Stands in for open_url: GET answers ``zones`` (one per GET, the last one repeats), PATCH records its body."""

    def __init__(self, *zones, error=None):
        self.zones = list(zones) or [zone()]
        self.error = error
        self.calls = []

    def open_url(self, url, method=None, data=None, headers=None, **kwargs):
        self.calls.append({"url": url, "method": method, "body": json.loads(data) if data else None, "headers": headers, **kwargs})
        if self.error is not None:
            raise self.error
        if method == "GET":
            answer = self.zones.pop(0) if len(self.zones) > 1 else self.zones[0]
            return Response(json.dumps(answer).encode())
        return Response(b"")

    def methods(self):
        return [call["method"] for call in self.calls]


@pytest.fixture
def api(monkeypatch):
    fake = FakeApi()
    monkeypatch.setattr(_powerdns, "open_url", fake.open_url)
    return fake


def provider(**options):
    return PowerDnsProvider(options.pop("api_url", API), options.pop("api_key", "the-key"), **options)


def http_error(code, body=b""):
    return HTTPError(URL, code, "status %d" % code, {}, io.BytesIO(body))


# --- read --------------------------------------------------------------------------------------

def test_read_picks_the_asked_rrsets_and_normalises(api):
    api.zones = [zone(
        rrset(ZONE, "MX", 300, "20 Mail.Example.Test.", "10 nolist.example.test."),
        rrset("NoList.Example.Test.", "AAAA", 60, "2001:db8:0:0::10"),
        rrset("mail.example.test.", "AAAA", 60, "2001:db8::20"),
        rrset("other.example.test.", "A", 60, "198.51.100.1"),
    )]
    current = provider(timeout=2.5).read(ZONE, [MX.key, NOLIST_AAAA.key, MAIL_A.key])
    assert current == {
        MX.key: RecordSet(ZONE, "MX", 300, ["10 nolist.example.test.", "20 mail.example.test."]),
        NOLIST_AAAA.key: RecordSet("nolist.example.test.", "AAAA", 60, ["2001:db8::10"]),
        MAIL_A.key: None,
    }
    (call,) = api.calls
    assert (call["url"], call["method"], call["body"], call["timeout"]) == (URL, "GET", None, 2.5)
    assert call["headers"] == {"X-API-Key": "the-key", "Accept": "application/json"}
    assert (call["validate_certs"], call["follow_redirects"]) == (True, "none")


def test_read_keeps_disabled_records_apart(api):
    # A disabled record used to vanish from the read, and with it from the diff; the REPLACE then dropped it silently.
    api.zones = [zone(rrset(ZONE, "MX", 300, "10 nolist.example.test.", "20 mail.example.test.", disabled=["10 nolist.example.test."]),
                      rrset("mail.example.test.", "A", 300, "198.51.100.20", disabled=["198.51.100.20"]))]
    current = provider().read(ZONE, [MX.key, MAIL_A.key])
    assert current == {MX.key: RecordSet(ZONE, "MX", 300, ["20 mail.example.test."], disabled=["10 nolist.example.test."]),
                       MAIL_A.key: RecordSet(MAIL_A.name, "A", 300, [], disabled=["198.51.100.20"])}


def test_an_rrset_with_a_disabled_record_is_replaced_visibly(api):
    # Wanted: exactly the enabled values. Not "ok": the diff shows the disabled record, and the PATCH leaves only the wanted values.
    wanted = RecordSet(MAIL_A.name, "A", 300, ["198.51.100.20"])
    api.zones = [zone(rrset(MAIL_A.name, "A", 300, "198.51.100.20", "198.51.100.99", disabled=["198.51.100.99"]))]
    changes, zone_diff = converge_zone(provider(), ZONE, [wanted], "present", False)
    assert zone_diff["before"] == "mail.example.test. 300 IN A 198.51.100.20\n; mail.example.test. 300 IN A 198.51.100.99 ; disabled\n"
    assert zone_diff["after"] == "mail.example.test. 300 IN A 198.51.100.20\n"
    assert changes[0].as_dict()["before"]["disabled"] == ["198.51.100.99"]
    patch = api.calls[-1]
    assert patch["method"] == "PATCH"
    assert patch["body"]["rrsets"] == [{"name": MAIL_A.name, "type": "A", "ttl": 300, "changetype": "REPLACE",
                                        "records": [{"content": "198.51.100.20", "disabled": False}]}]


def test_a_wanted_value_that_is_disabled_is_enabled(api):
    wanted = RecordSet(MAIL_A.name, "A", 300, ["198.51.100.20"])
    api.zones = [zone(rrset(MAIL_A.name, "A", 300, "198.51.100.20", disabled=["198.51.100.20"]))]
    changes, zone_diff = converge_zone(provider(), ZONE, [wanted], "present", False)
    assert zone_diff["before"] == "; mail.example.test. 300 IN A 198.51.100.20 ; disabled\n"
    assert api.calls[-1]["body"]["rrsets"][0]["records"] == [{"content": "198.51.100.20", "disabled": False}]


def test_removing_an_rrset_of_disabled_records_shows_them(api):
    api.zones = [zone(rrset(MAIL_A.name, "A", 300, "198.51.100.99", disabled=["198.51.100.99"]))]
    changes, zone_diff = converge_zone(provider(), ZONE, [RecordSet(MAIL_A.name, "A", 300, [])], "absent", True)
    assert len(changes) == 1
    assert zone_diff == {"before": "; mail.example.test. 300 IN A 198.51.100.99 ; disabled\n", "after": ""}


# --- options refused before any request ------------------------------------------------------------------

@pytest.mark.parametrize("api_url", [
    "http://127.0.0.1:8081", "http://127.1.2.3:8081/", "http://[::1]:8081", "http://localhost:8081", "http://LOCALHOST",
    "https://pdns.example.test:8081", "https://192.0.2.53",
])
def test_https_or_loopback_http_is_accepted(api, api_url):
    provider(api_url=api_url).read(ZONE, [])
    assert len(api.calls) == 1


@pytest.mark.parametrize("api_url", [
    "http://192.0.2.53:8081", "http://pdns.example.test:8081", "http://[2001:db8::53]:8081", "http://localhost.example.test",
    "http://127.0.0.1.example.test", "http://[::ffff:127.0.0.1]:8081", "http://0.0.0.0:8081",
])
def test_plain_http_off_loopback_is_refused_unless_allowed(api, api_url):
    with pytest.raises(RecordSetError) as error:
        provider(api_url=api_url)
    assert str(error.value).startswith("api_url %r is plain http to " % api_url)
    assert "allow_insecure_http=true" in str(error.value)
    provider(api_url=api_url, allow_insecure_http=True).read(ZONE, [])
    assert len(api.calls) == 1


@pytest.mark.parametrize("options, message", [
    ({"api_url": "ftp://127.0.0.1/"}, "api_url 'ftp://127.0.0.1/' must be an http:// or https:// URL with a host"),
    ({"api_url": "127.0.0.1:8081"}, "api_url '127.0.0.1:8081' must be an http:// or https:// URL with a host"),
    ({"api_url": "http://127.0.0.1:8081\r\nX-Evil: 1"}, "api_url: 'http://127.0.0.1:8081\\r\\nX-Evil: 1' contains a control character"),
    ({"server_id": "localhost\n"}, "server_id: 'localhost\\n' contains a control character (U+000A at offset 9)"),
    ({"api_key": "the-key\r\nX-Evil: 1"}, "api_key contains a control character (or is not text); remove it"),
])
def test_bad_options_are_refused_before_any_request(api, options, message):
    with pytest.raises(RecordSetError) as error:
        provider(**options)
    assert str(error.value).startswith(message)
    assert "the-key" not in str(error.value)
    assert api.calls == []


def test_server_id_and_zone_are_quoted(api):
    provider(server_id="my/server", validate_certs=False).read(ZONE, [])
    (call,) = api.calls
    assert call["url"] == "http://127.0.0.1:8081/api/v1/servers/my%2Fserver/zones/example.test."
    assert call["validate_certs"] is False


# --- apply -------------------------------------------------------------------------------------

def test_apply_patches_once(api):
    old_a = rrset("mail.example.test.", "A", 300, "198.51.100.99")
    api.zones = [zone(old_a, rrset(NOLIST_AAAA.name, "AAAA", 3600, "2001:db8::10"))]
    gone = RecordSet(NOLIST_AAAA.name, "AAAA", 3600, [])
    current = provider().read(ZONE, [MX.key, MAIL_A.key])
    current.update(provider().read(ZONE, [gone.key]))
    changes = plan([MX, MAIL_A], current, "present") + plan([gone], current, "absent")
    api.calls.clear()
    provider().apply(ZONE, changes)
    assert api.methods() == ["PATCH"]
    patch = api.calls[0]
    assert patch["url"] == URL
    assert patch["headers"] == {"X-API-Key": "the-key", "Accept": "application/json", "Content-Type": "application/json"}
    assert patch["body"] == {"rrsets": [
        {"name": "mail.example.test.", "type": "A", "ttl": 3600, "changetype": "REPLACE", "records": [{"content": "198.51.100.20", "disabled": False}]},
        {"name": ZONE, "type": "MX", "ttl": 3600, "changetype": "REPLACE", "records": [
            {"content": "10 nolist.example.test.", "disabled": False}, {"content": "20 mail.example.test.", "disabled": False}]},
        {"name": "nolist.example.test.", "type": "AAAA", "changetype": "DELETE"},
    ]}


# --- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", [401, 403])
def test_wrong_api_key(api, code):
    api.error = http_error(code, b'{"error": "Unauthorized"}')
    with pytest.raises(ProviderError) as error:
        provider().read(ZONE, [MX.key])
    assert str(error.value) == "the PowerDNS API rejected the API key (HTTP %d): check api_key" % code


def test_no_such_zone(api):
    api.error = http_error(404, b'{"error": "Could not find domain \'example.test.\'"}')
    with pytest.raises(ProviderError, match=r"^the PowerDNS API has no zone example\.test\. on this server_id \(HTTP 404\)$"):
        provider().read(ZONE, [MX.key])


def test_unprocessable_patch_shows_the_api_error(api, monkeypatch):
    changes = plan([MX], provider().read(ZONE, [MX.key]), "present")
    fake_open = api.open_url

    def fail_patch(url, method=None, **kwargs):
        if method == "PATCH":
            raise http_error(422, b'{"error": "RRset example.test. IN MX: Conflicts with pre-existing RRset"}')
        return fake_open(url, method=method, **kwargs)
    monkeypatch.setattr(_powerdns, "open_url", fail_patch)
    with pytest.raises(ProviderError) as error:
        provider().apply(ZONE, changes)
    assert str(error.value) == ("the PowerDNS API answered PATCH with HTTP 422: RRset example.test. IN MX: Conflicts with pre-existing RRset; "
                                "nothing was changed")


@pytest.mark.parametrize("body", [b"<html>Bad gateway</html>", b"", b"[1, 2]"])
def test_http_error_without_a_json_error(api, body):
    api.error = http_error(502, body)
    with pytest.raises(ProviderError) as error:
        provider().read(ZONE, [MX.key])
    assert str(error.value) == "the PowerDNS API answered GET with HTTP 502; nothing was changed"


@pytest.mark.parametrize("error, reason", [
    (URLError(ConnectionRefusedError(111, "Connection refused")), "[Errno 111] Connection refused"),
    (TimeoutError("timed out"), "timed out"),
])
def test_cannot_reach(api, error, reason):
    api.error = error
    with pytest.raises(ProviderError) as raised:
        provider().read(ZONE, [MX.key])
    assert str(raised.value) == "cannot reach the PowerDNS API at http://127.0.0.1:8081/api/v1/servers/localhost/zones/: %s" % reason


def test_an_endless_answer_is_not_read_on(api, monkeypatch):
    monkeypatch.setattr(_powerdns, "MAX_RESPONSE", 1024)
    api.zones = [zone(rrset(ZONE, "TXT", 300, *['"%s"' % ("x" * 200)] * 10))]
    with pytest.raises(ProviderError, match="answered GET example.test. with more than 0 MiB; refusing to read on"):
        provider().read(ZONE, [MX.key])
