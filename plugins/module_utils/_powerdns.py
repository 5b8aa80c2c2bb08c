# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PowerDNS Authoritative HTTP API provider: read a zone's RRsets, change it with one PATCH.

The API has no prerequisites: the core's fresh read right before the PATCH is
what catches a change made by someone else in the meantime (the window left is
that one round trip).
"""

from __future__ import annotations

import json
from urllib.error import HTTPError, URLError
from urllib.parse import quote

from ansible.module_utils.urls import open_url

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, RecordSet, read_value


class PowerDnsProvider:
    def __init__(self, api_url, api_key, server_id="localhost", timeout=10.0, validate_certs=True):
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
            text = response.read()
        except HTTPError as exc:
            raise ProviderError(_http_error(exc, method, zone)) from None
        except (URLError, OSError) as exc:
            raise ProviderError("cannot reach the PowerDNS API at %s: %s" % (self.base, getattr(exc, "reason", exc))) from None
        return json.loads(text) if text else None

    def read(self, zone, keys):
        wanted = set(keys)
        current = {key: None for key in keys}
        for rrset in self._request("GET", zone).get("rrsets", ()):
            key = (rrset["name"].lower(), rrset["type"])
            if key not in wanted:
                continue
            values = [read_value(key[1], record["content"], zone)
                      for record in rrset.get("records", ()) if not record.get("disabled")]
            current[key] = RecordSet(key[0], key[1], rrset["ttl"], values) if values else None
        return current

    def apply(self, zone, changes):
        rrsets = []
        for change in changes:
            name, rtype = change.key
            if change.after is None:
                rrsets.append({"name": name, "type": rtype, "changetype": "DELETE"})
            else:
                records = [{"content": value, "disabled": False} for value in change.after.values]
                rrsets.append({"name": name, "type": rtype, "ttl": change.after.ttl, "changetype": "REPLACE", "records": records})
        self._request("PATCH", zone, {"rrsets": rrsets})


def _http_error(exc, method, zone):
    try:
        detail = json.loads(exc.read()).get("error", "")
    except (ValueError, AttributeError, OSError):
        detail = ""
    if exc.code in (401, 403):
        return "the PowerDNS API rejected the API key (HTTP %d): check api_key" % exc.code
    if exc.code == 404:
        return "the PowerDNS API has no zone %s on this server_id (HTTP 404)" % zone
    return "the PowerDNS API answered %s with HTTP %d%s; nothing was changed" % (method, exc.code, ": " + detail if detail else "")
