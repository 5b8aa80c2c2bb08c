# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PowerDNS Authoritative HTTP API provider: read a zone's RRsets, change it with one PATCH.

The API has no prerequisites: the core's fresh read right before the PATCH is
what catches a change made by someone else in the meantime (the window left is
that one round trip).

Disabled records are part of an RRset as read (RecordSet.disabled): an RRset
holding any differs from the wanted one, so the diff and the plan show them, and
the PATCH that replaces the RRset leaves exactly the wanted values, all enabled
(a disabled value that is wanted is enabled, the others are removed).

The API key travels in a header: a plain http:// URL is accepted only to a
loopback host (127.0.0.0/8, ::1, localhost) unless the user opts in.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.urls import open_url

# A zone's whole RRset list comes back on every read: room for very large zones, never for an endless answer.
MAX_RESPONSE = 256 * 1024 * 1024

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    Provider, ProviderError, RecordSet, RecordSetError, ServerUnavailable, check_http_url, check_option, read_value)
from ansible_collections.mailsec.mx.plugins.module_utils._values import control_character


class PowerDnsProvider(Provider):
    def __init__(self, api_url, api_key, server_id="localhost", timeout=10.0, validate_certs=True, allow_insecure_http=False):
        """Raises RecordSetError for a bad option, before any request."""
        check_api_url(api_url, allow_insecure_http)
        check_option("server_id", server_id)
        if not isinstance(api_key, str) or control_character(api_key):
            # Never shown: it is a secret. A newline in a header would split the request.
            raise RecordSetError("api_key contains a control character (or is not text); remove it")
        self.base = "%s/api/v1/servers/%s/zones/" % (api_url.rstrip("/"), quote(server_id, safe=""))
        self.api_key = api_key
        self.timeout = timeout
        self.validate_certs = validate_certs

    def _request(self, method, zone, body=None):
        url = self.base + quote(zone, safe="")
        data = json.dumps(body).encode() if body is not None else None
        headers = {"X-API-Key": self.api_key, "Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = open_url(url, method=method, data=data, headers=headers, timeout=self.timeout,
                                validate_certs=self.validate_certs, follow_redirects="none")
            text = response.read(MAX_RESPONSE + 1)
        except HTTPError as exc:
            raise ProviderError(_http_error(exc, method, zone)) from None
        except (URLError, OSError) as exc:
            raise ServerUnavailable("cannot reach the PowerDNS API at %s: %s" % (self.base, getattr(exc, "reason", exc))) from None
        if len(text) > MAX_RESPONSE:
            raise ProviderError("the PowerDNS API at %s answered %s %s with more than %d MiB; refusing to read on"
                                % (self.base, method, zone, MAX_RESPONSE >> 20))
        return json.loads(text) if text else None

    def read(self, zone, keys):
        wanted = set(keys)
        current = {key: None for key in keys}
        for rrset in self._request("GET", zone).get("rrsets", ()):
            key = (rrset["name"].lower(), rrset["type"])
            if key not in wanted:
                continue
            records = rrset.get("records", ())
            values = [read_value(key[1], record["content"], zone) for record in records if not record.get("disabled")]
            disabled = [read_value(key[1], record["content"], zone) for record in records if record.get("disabled")]
            current[key] = RecordSet(key[0], key[1], rrset["ttl"], values, disabled) if values or disabled else None
        return current

    def apply(self, zone, changes, unchanged=()):
        """One PATCH. ``unchanged`` (the RRsets relied on) needs no request: the core re-read them right before."""
        rrsets = []
        for change in changes:
            name, rtype = change.key
            if change.after is None:
                rrsets.append({"name": name, "type": rtype, "changetype": "DELETE"})
            else:
                records = [{"content": value, "disabled": False} for value in change.after.values]
                rrsets.append({"name": name, "type": rtype, "ttl": change.after.ttl, "changetype": "REPLACE", "records": records})
        self._request("PATCH", zone, {"rrsets": rrsets})


def check_api_url(api_url, allow_insecure_http=False):
    """Refuse a URL with a control character, a scheme other than http/https, no host, or plain http to a host
    other than loopback unless ``allow_insecure_http``: the API key would cross the network in clear text."""
    scheme, host = check_http_url("api_url", api_url, "https://pdns.example.org:8081")
    if scheme == "http" and not allow_insecure_http and not _is_loopback(host):
        raise RecordSetError(
            "api_url %r is plain http to %s, not a loopback host: the API key would cross the network unencrypted. "
            "Use https://, reach the API through a loopback tunnel, or set allow_insecure_http=true if you accept the risk"
            % (api_url, host))


def _is_loopback(host):
    """127.0.0.0/8, ::1 or localhost: traffic that never leaves the host."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _http_error(exc, method, zone):
    try:
        detail = json.loads(exc.read(65536)).get("error", "")
    except (ValueError, AttributeError, OSError):
        detail = ""
    if exc.code in (401, 403):
        return "the PowerDNS API rejected the API key (HTTP %d): check api_key" % exc.code
    if exc.code == 404:
        return "the PowerDNS API has no zone %s on this server_id (HTTP 404)" % zone
    return "the PowerDNS API answered %s with HTTP %d%s; nothing was changed" % (method, exc.code, ": " + detail if detail else "")
