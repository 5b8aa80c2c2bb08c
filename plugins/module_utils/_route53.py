# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Amazon Route 53 provider (boto3): read the listed RRsets, change a hosted zone with one change batch.

One ``ChangeResourceRecordSets`` batch per zone holds, for every change, a
DELETE of the RRset exactly as it was read (name, TTL and values as Route 53
returned them) and then a CREATE of the wanted one, address records before the
MX. UPSERT is never used: Route 53 applies a batch all or nothing and refuses a
DELETE whose values do not match the current ones, so a change someone made
after our last read fails the whole batch (InvalidChangeBatch) instead of being
overwritten. The core's fresh read right before the batch catches the rest (an
RRset that appeared, a TTL). After the batch, ``GetChange`` is polled until the
change is INSYNC (on every Route 53 name server), within ``wait_timeout``.

Reading never lists a big zone whole: ``ListResourceRecordSets`` from the
zone's apex (the first name of a zone in Route 53's order), one page of up to
300 RRsets, which for a small zone is all of it; then, for each listed name not
complete on it, a listing of 20 from that name (``StartRecordName``), following the
pagination while that name goes on (``NextRecordName``/``NextRecordType``/
``NextRecordIdentifier``). A name is never taken as absent from a page that did
not start at it or run to the zone's end. Route 53 returns absolute names with
some characters escaped (``*`` as ``\\052``); they are unescaped and lower-cased
before comparing.

An RRset at a listed key that is an alias (AliasTarget), carries a routing
policy (SetIdentifier: weighted, latency, failover, geolocation, multivalue,
IP-based) or belongs to a traffic policy cannot be replaced by a plain RRset
exactly: the read fails naming it.

Credentials left unset are boto3's to find (environment, shared config files and
profiles, container or instance role). Secrets (secret_key, session_token) never
appear in a message: any text that holds one is masked before it is raised.
"""

from __future__ import annotations

import copy
import re
import time

try:
    import boto3
    import botocore
    import botocore.config
    import botocore.exceptions
except ImportError:  # reported by the module with missing_required_lib
    boto3 = None
    botocore = None

from ansible_collections.mailsec.mx.plugins.module_utils._recordset import (
    Provider, ProviderError, RecordSet, RecordSetError, ServerUnavailable, check_http_url, check_option, read_value)
from ansible_collections.mailsec.mx.plugins.module_utils._values import control_character

DEFAULT_REGION = "us-east-1"  # Route 53 is global; its API signs in us-east-1 (boto3 maps any region of the partition)
PAGE_SIZE = 300  # ListResourceRecordSets' largest page: the listing from the apex, which for a small zone is all of it
NAME_PAGE_SIZE = 20  # a listing from one name: its few RRsets and a little after (more pages while the name goes on)
MAX_PAGES = 1000  # 300,000 RRsets at one name: far past anything Route 53 holds; an endless answer stops here
ZONE_PAGE_SIZE = 100  # ListHostedZonesByName's largest page
POLL_SECONDS = 2.0
# Route 53's limits per ChangeResourceRecordSets request.
MAX_BATCH_RECORDS = 1000
MAX_BATCH_VALUE_CHARACTERS = 32000
COMMENT = "mailsec.mx.route53_record_set"
INSYNC = "INSYNC"
_HOSTED_ZONE_ID = re.compile(r"(?:/hostedzone/)?([A-Za-z0-9]{1,64})")
_REGION = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?")
_ESCAPE = re.compile(r"\\([0-7]{3})")
# What makes an RRset something other than one plain RRset of a simple routing policy.
_ROUTING_KEYS = ("SetIdentifier", "Weight", "Region", "Failover", "GeoLocation", "GeoProximityLocation", "MultiValueAnswer",
                 "CidrRoutingConfig", "HealthCheckId")

_CREDENTIAL_CODES = frozenset((
    "InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch", "IncompleteSignature",
    "InvalidSignatureException", "MissingAuthenticationToken", "ExpiredToken", "ExpiredTokenException", "RequestExpired",
    "AuthFailure", "InvalidAccessKeyId", "InvalidToken",
))
_DENIED_CODES = frozenset(("AccessDenied", "AccessDeniedException", "UnauthorizedOperation"))
_THROTTLE_CODES = frozenset(("Throttling", "ThrottlingException", "ThrottledException", "PriorRequestNotComplete",
                             "TooManyRequestsException", "RequestLimitExceeded", "RequestThrottled"))
# The permissions the module needs, for the message that says which are missing.
PERMISSIONS = ("route53:ListHostedZonesByName", "route53:GetHostedZone", "route53:ListResourceRecordSets",
               "route53:ChangeResourceRecordSets", "route53:GetChange")


def unescape_name(name):
    """A name as Route 53 returns it (``\\052.example.org.``) in our form: octal escapes decoded, lower case, absolute."""
    text = _ESCAPE.sub(lambda found: chr(int(found.group(1), 8)), name).lower()
    return text if text.endswith(".") else text + "."


def bare_zone_id(hosted_zone_id):
    """``Z123`` from ``Z123`` or ``/hostedzone/Z123``; RecordSetError for anything else (it goes into a request path)."""
    found = _HOSTED_ZONE_ID.fullmatch(hosted_zone_id) if isinstance(hosted_zone_id, str) else None
    if not found:
        raise RecordSetError("hosted_zone_id %r is not a Route 53 hosted zone id (letters and digits, as Z1D633PJN98FT9)"
                             % (hosted_zone_id,))
    return found.group(1)


def check_endpoint_url(endpoint_url):
    check_http_url("endpoint_url", endpoint_url, "https://route53.amazonaws.com")


def _check_secret(option, value):
    """Never shown: a secret. A control character would end up in a header or a signature."""
    if not isinstance(value, str) or control_character(value):
        raise RecordSetError("%s contains a control character (or is not text); remove it" % option)


class Route53Provider(Provider):
    """Route 53 through boto3. ``zone_ids``: {zone: hosted zone id or None (found by name)} for the zones to change."""

    def __init__(self, zone_ids=None, private_zone=False, access_key=None, secret_key=None, session_token=None, profile=None,
                 region=None, endpoint_url=None, validate_certs=True, wait=True, wait_timeout=300, page_size=PAGE_SIZE,
                 client=None, clock=time.monotonic, sleep=time.sleep):
        """Checks every option before any request; RecordSetError names the bad one. ``client``, ``clock`` and ``sleep``
        stand in for boto3's client and time in tests."""
        self.zone_ids = {}
        for zone, hosted_zone_id in (zone_ids or {}).items():
            if hosted_zone_id is not None:
                check_option("hosted_zone_id", hosted_zone_id)
                hosted_zone_id = bare_zone_id(hosted_zone_id)
            self.zone_ids[zone] = hosted_zone_id
        if access_key is not None:
            check_option("access_key", access_key)
        for option, value in (("secret_key", secret_key), ("session_token", session_token)):
            if value is not None:
                _check_secret(option, value)
        self.secrets = [value for value in (secret_key, session_token) if value]
        if profile is not None:
            check_option("profile", profile)
        if region is not None:
            check_option("region", region)
            if not _REGION.fullmatch(region):
                raise RecordSetError("region %r is not an AWS region name (as us-east-1)" % (region,))
        if endpoint_url is not None:
            check_endpoint_url(endpoint_url)
        if isinstance(wait_timeout, bool) or not isinstance(wait_timeout, int) or wait_timeout < 0:
            raise RecordSetError("wait_timeout %r must be a whole number of seconds, 0 or more" % (wait_timeout,))
        self.private_zone = bool(private_zone)
        self.region = region
        self.endpoint_url = endpoint_url
        self.wait = wait
        self.wait_timeout = wait_timeout
        self._pending = []  # ChangeInfo of the batches submitted, for finish() to wait on
        self.page_size = page_size
        self._clock = clock
        self._sleep = sleep
        self._hosted_zones = {}  # zone -> bare hosted zone id, once found
        self._as_read = {}  # (zone, key) -> the RRset exactly as the last read returned it, for the DELETE
        self.client = client if client is not None else self._new_client(access_key, secret_key, session_token, profile, region, validate_certs)

    def _new_client(self, access_key, secret_key, session_token, profile, region, validate_certs):
        try:
            session = boto3.session.Session(aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                                            aws_session_token=session_token, profile_name=profile)
        except botocore.exceptions.ProfileNotFound:
            raise RecordSetError("profile %r is not in the AWS config or credentials files" % (profile,)) from None
        except botocore.exceptions.BotoCoreError as exc:
            raise RecordSetError(self._masked("the AWS configuration cannot be used: %s" % exc)) from None
        config = botocore.config.Config(user_agent_extra="mailsec.mx", connect_timeout=10, read_timeout=60,
                                        # Throttling (5 requests per second per account) and dropped connections are retried.
                                        retries={"mode": "standard", "max_attempts": 5})
        self.region = region or session.region_name or DEFAULT_REGION
        try:
            return session.client("route53", region_name=self.region, endpoint_url=self.endpoint_url, verify=validate_certs, config=config)
        except botocore.exceptions.BotoCoreError as exc:
            raise RecordSetError(self._masked("cannot set up the Route 53 client: %s" % exc)) from None

    # --- requests -------------------------------------------------------------------------------

    def _call(self, operation, **params):
        """One API call by its Route 53 name (``ListResourceRecordSets``); every failure becomes a ProviderError that says what to check."""
        method = getattr(self.client, botocore.xform_name(operation))
        errors = botocore.exceptions
        unusable = False
        try:
            return method(**params)
        except errors.ClientError as exc:
            message, sent = _client_error(operation, exc), False  # answered with an error: refused as a whole
            if exc.response.get("ResponseMetadata", {}).get("RetryAttempts"):
                # botocore retried after a timeout, a dropped connection or a 5xx: an earlier attempt may have been
                # applied, and then this one is refused because the zone already holds the change.
                message, sent = "%s failed after %d retries: %s" % (operation, exc.response["ResponseMetadata"]["RetryAttempts"],
                                                                    _client_error(operation, exc).split(": nothing was changed")[0]), None
        except errors.NoCredentialsError:
            unusable = True
            message, sent = ("no AWS credentials found for %s: give access_key and secret_key, or profile, or set them in the environment "
                             "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) or the AWS config files" % operation), False
        except (errors.PartialCredentialsError, errors.ProfileNotFound) as exc:
            unusable = True
            message, sent = "the AWS credentials cannot be used for %s: %s" % (operation, exc), False
        except errors.SSLError as exc:
            unusable = True
            message, sent = "TLS failed with %s for %s: %s (check the endpoint's certificate, or validate_certs)" % (self._where(), operation, exc), False
        except (errors.EndpointConnectionError, errors.ConnectTimeoutError, errors.ProxyConnectionError) as exc:
            unusable = True
            message, sent = "cannot reach %s for %s: %s" % (self._where(), operation, _reason(exc)), False
        except errors.BotoCoreError as exc:  # a read timeout among them: the request may have gone through
            message, sent = "%s failed: %s" % (operation, exc), None
        if operation == "ChangeResourceRecordSets" and "nothing was changed" not in message:
            message += ("; the batch may or may not have been applied (Route 53 applies it all or nothing): run again to see"
                        if sent is None else "; nothing was changed")
        # No credentials, no TLS, no connection: every zone would fail alike, so the run stops (ServerUnavailable).
        raise (ServerUnavailable if unusable else ProviderError)(self._masked(message))

    def _where(self):
        return "the Route 53 API at %s" % self.endpoint_url if self.endpoint_url else "the Route 53 API"

    def _masked(self, text):
        for secret in self.secrets:
            text = text.replace(secret, "********")
        return text

    # --- hosted zones ---------------------------------------------------------------------------

    def hosted_zone_id(self, zone):
        """The bare id of ``zone``'s hosted zone: the one given (checked to be that zone), else found by name (public or private)."""
        if zone not in self._hosted_zones:
            given = self.zone_ids.get(zone)
            self._hosted_zones[zone] = self._check_given_zone(zone, given) if given else self._find_zone(zone)
        return self._hosted_zones[zone]

    def _check_given_zone(self, zone, hosted_zone_id):
        hosted_zone = self._call("GetHostedZone", Id=hosted_zone_id)["HostedZone"]
        name = unescape_name(hosted_zone["Name"])
        if name != zone:
            raise ProviderError("hosted zone %s is %s, not %s: check hosted_zone_id" % (hosted_zone_id, name, zone))
        return hosted_zone_id

    def _find_zone(self, zone):
        found, params = [], {"DNSName": zone, "MaxItems": str(ZONE_PAGE_SIZE)}
        for _page in range(MAX_PAGES):
            answer = self._call("ListHostedZonesByName", **params)
            hosted_zones = answer.get("HostedZones", [])
            found.extend(hosted_zone for hosted_zone in hosted_zones if unescape_name(hosted_zone["Name"]) == zone)
            # The list goes on with the names after ours: stop at the first other name.
            if not answer.get("IsTruncated") or not hosted_zones or unescape_name(hosted_zones[-1]["Name"]) != zone:
                break
            params = {"DNSName": answer["NextDNSName"], "HostedZoneId": answer["NextHostedZoneId"], "MaxItems": str(ZONE_PAGE_SIZE)}
        kind, other = ("private", "public") if self.private_zone else ("public", "private")
        matches = [hosted_zone for hosted_zone in found if bool(hosted_zone.get("Config", {}).get("PrivateZone")) == self.private_zone]
        if not matches:
            hint = ""
            if found:
                hint = " (there is a %s one, %s: set private_zone=%s, or give hosted_zone_id)" % (
                    other, ", ".join(bare_zone_id(hosted_zone["Id"]) for hosted_zone in found), str(not self.private_zone).lower())
            raise ProviderError("no %s hosted zone named %s in this AWS account%s" % (kind, zone, hint))
        if len(matches) > 1:
            raise ProviderError("%d %s hosted zones are named %s (%s): give hosted_zone_id to say which one"
                                % (len(matches), kind, zone, ", ".join(bare_zone_id(hosted_zone["Id"]) for hosted_zone in matches)))
        return bare_zone_id(matches[0]["Id"])

    # --- read -----------------------------------------------------------------------------------

    def read(self, zone, keys):
        zone_id = self.hosted_zone_id(zone)
        names = sorted({name for name, _rtype in keys})
        # The apex is the first name of a zone in Route 53's order (labels reversed: it is a prefix of every other name), so a
        # listing from it that ends is the whole zone: a small zone takes one request, and a name not on it is absent.
        listed, whole_zone = self._list_from(zone_id, zone, names, self.page_size)
        for name in names:
            if whole_zone:
                listed.setdefault(name, [])
            elif name not in listed:
                listed.update(self._list_from(zone_id, name, names, min(self.page_size, NAME_PAGE_SIZE))[0])
        current = {}
        for key in keys:
            rrsets = [rrset for rrset in listed[key[0]] if rrset["Type"] == key[1]]
            current[key] = self._record_set(zone, key, rrsets)
            if current[key] is None:
                self._as_read.pop((zone, key), None)
            else:
                self._as_read[(zone, key)] = copy.deepcopy(rrsets[0])
        return current

    def _list_from(self, zone_id, start, wanted, page_size):
        """({name: [RRsets]}, reached the end) for ``start`` (empty when it has none) and every other name of ``wanted`` that the
        pages read hold complete. Pages follow on only while ``start`` goes on; a name is never taken as absent from a page that
        did not start at it (that would depend on Route 53's exact sort order)."""
        wanted = set(wanted)
        params = {"HostedZoneId": zone_id, "StartRecordName": start, "MaxItems": str(page_size)}
        listed = {start: []}
        for _page in range(MAX_PAGES):
            answer = self._call("ListResourceRecordSets", **params)
            for rrset in answer.get("ResourceRecordSets", []):
                name = unescape_name(rrset["Name"])
                if name in wanted:
                    listed.setdefault(name, []).append(rrset)
            if not answer.get("IsTruncated"):
                return listed, True
            following = unescape_name(answer["NextRecordName"])
            if following != start:
                # Every name on the page before the next one is complete; the next one may go on, so it is read from its own start.
                listed.pop(following, None)
                return listed, False
            next_params = {"HostedZoneId": zone_id, "StartRecordName": answer["NextRecordName"], "MaxItems": str(page_size)}
            for field, parameter in (("NextRecordType", "StartRecordType"), ("NextRecordIdentifier", "StartRecordIdentifier")):
                if answer.get(field):
                    next_params[parameter] = answer[field]
            if next_params == params:
                raise ProviderError("Route 53 answered ListResourceRecordSets for %s with the same page again; stopped reading" % start)
            params = next_params
        raise ProviderError("%s holds more than %d pages of record sets in Route 53; stopped reading" % (start, MAX_PAGES))

    def _record_set(self, zone, key, rrsets):
        """The one plain RRset at ``key`` as a RecordSet, None when there is none; ProviderError for what cannot be replaced exactly."""
        what = "%s %s" % key
        for rrset in rrsets:
            if rrset.get("AliasTarget"):
                raise ProviderError("%s is a Route 53 alias record (to %s); this module replaces plain record sets only: remove the alias "
                                    "or leave %s out of record_sets" % (what, rrset["AliasTarget"].get("DNSName", "?"), what))
            if rrset.get("TrafficPolicyInstanceId"):
                raise ProviderError("%s belongs to the traffic policy instance %s; this module replaces plain record sets only"
                                    % (what, rrset["TrafficPolicyInstanceId"]))
            policy = [field for field in _ROUTING_KEYS if rrset.get(field) not in (None, "", [], {})]
            if policy:
                raise ProviderError("%s has a routing policy (%s%s: weighted, latency, failover, geolocation, multivalue or IP-based); "
                                    "this module replaces plain record sets only" % (
                                        what, ", ".join(policy), " %r" % rrset["SetIdentifier"] if rrset.get("SetIdentifier") else ""))
        if not rrsets:
            return None
        if len(rrsets) > 1:
            raise ProviderError("Route 53 lists %d record sets for %s; expected one" % (len(rrsets), what))
        records = rrsets[0].get("ResourceRecords") or []
        values = [read_value(key[1], record["Value"], zone) for record in records]
        return RecordSet(key[0], key[1], int(rrsets[0].get("TTL", 0)), values) if values else None

    # --- apply ----------------------------------------------------------------------------------

    def change_batch(self, zone, changes):
        """The Changes of the one batch for ``changes``: per change, DELETE of the RRset as read, then CREATE of the wanted one."""
        batch = []
        for change in changes:
            if change.before is not None:
                batch.append({"Action": "DELETE", "ResourceRecordSet": self._as_read_rrset(zone, change.before)})
            if change.after is not None:
                batch.append({"Action": "CREATE", "ResourceRecordSet": _rrset(change.after)})
        return batch

    def _as_read_rrset(self, zone, record_set):
        """The RRset to DELETE, byte for byte as Route 53 returned it (its names, value order and spelling), when the last read
        is what the plan was made from; else as planned, which Route 53 then refuses if it is not what it holds."""
        raw = self._as_read.get((zone, record_set.key))
        if raw is not None and self._record_set(zone, record_set.key, [raw]) == record_set:
            return {field: copy.deepcopy(raw[field]) for field in ("Name", "Type", "TTL", "ResourceRecords")}
        return _rrset(record_set)

    def apply(self, zone, changes, unchanged=()):
        """One ChangeResourceRecordSets for the zone; with wait, ``finish`` waits for it (and every other zone's) to be
        INSYNC. ``unchanged`` needs no request: the core read them again right before."""
        batch = self.change_batch(zone, changes)
        if not batch:
            return
        _check_batch_size(batch)
        zone_id = self.hosted_zone_id(zone)
        answer = self._call("ChangeResourceRecordSets", HostedZoneId=zone_id, ChangeBatch={"Comment": COMMENT, "Changes": batch})
        if self.wait:
            self._pending.append(answer.get("ChangeInfo", {}))

    def finish(self):
        """Wait until every change submitted in this run is INSYNC, within one wait_timeout for them all: a thousand zones
        wait about as long as one (their changes propagate side by side), not one after the other."""
        pending, self._pending = self._pending, []
        deadline = self._clock() + self.wait_timeout
        for change_info in pending:
            self._wait_insync(change_info, deadline)

    def _wait_insync(self, change_info, deadline):
        change_id = str(change_info.get("Id", "")).rsplit("/", 1)[-1]
        status = change_info.get("Status")
        while status != INSYNC:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise ProviderError("Route 53 accepted the change %s, but it was still %s after wait_timeout=%d s; it goes on by itself "
                                    "(aws route53 get-change --id %s): run again later to confirm" % (change_id, status, self.wait_timeout, change_id))
            self._sleep(min(POLL_SECONDS, remaining))
            try:
                status = self._call("GetChange", Id=change_id)["ChangeInfo"]["Status"]
            except ProviderError as exc:
                raise ProviderError("Route 53 accepted the change %s, but waiting for INSYNC failed: %s" % (change_id, exc)) from None


def _rrset(record_set):
    return {"Name": record_set.name, "Type": record_set.type, "TTL": record_set.ttl,
            "ResourceRecords": [{"Value": value} for value in record_set.values]}


def _check_batch_size(batch):
    records = [record["Value"] for change in batch for record in change["ResourceRecordSet"]["ResourceRecords"]]
    characters = sum(len(value) for value in records)
    if len(records) > MAX_BATCH_RECORDS or characters > MAX_BATCH_VALUE_CHARACTERS:
        raise ProviderError("the change holds %d values of %d characters (deletions count too); Route 53 takes at most %d values and %d "
                            "characters per batch: nothing was sent, split record_sets over several tasks"
                            % (len(records), characters, MAX_BATCH_RECORDS, MAX_BATCH_VALUE_CHARACTERS))


def _client_error(operation, exc):
    error = exc.response.get("Error", {})
    code = error.get("Code") or ""
    detail = error.get("Message") or ""
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    said = "%s: %s" % (code, detail) if detail else code
    if code in _CREDENTIAL_CODES:
        return ("AWS refused the credentials for %s (%s): check access_key, secret_key, session_token and profile, or the AWS_* "
                "environment and config files boto3 reads" % (operation, said))
    if code in _DENIED_CODES:
        return ("the credentials may not call %s (%s): their IAM policy must allow %s" % (operation, said, ", ".join(PERMISSIONS)))
    if code in _THROTTLE_CODES:
        return ("Route 53 throttled %s (%s) after retries: it takes 5 requests per second per account; run again later, "
                "or with fewer zones at a time" % (operation, said))
    if code == "NoSuchHostedZone":
        return "Route 53 has no such hosted zone (%s): check hosted_zone_id and the account" % said
    if code == "InvalidChangeBatch":
        return ("Route 53 refused the change batch (%s): nothing was changed. If a record set to delete was not found or did not match, "
                "someone changed the zone since it was read: run again" % said)
    if not code and status == 403:
        # What moto's server sends (an error body botocore cannot parse); real Route 53 gives a code.
        return ("AWS refused %s with HTTP 403 and no error code: check the credentials (access_key, secret_key, session_token, profile) "
                "and that their IAM policy allows %s" % (operation, ", ".join(PERMISSIONS)))
    return "Route 53 answered %s with %s" % (operation, said or "HTTP %s" % status)


def _reason(exc):
    """The innermost reason of a connection failure ("[Errno 111] Connection refused"), else the whole text."""
    cause = getattr(exc, "kwargs", {}).get("error")
    text = str(cause) if cause is not None else str(exc)
    found = re.search(r"\[Errno -?\d+\][^'\")]*", text)
    return found.group().strip() if found else str(exc)
