#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: route53_record_set
short_description: Publish whole RRsets (MX, A, AAAA) in Amazon Route 53 with one change batch per hosted zone
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Makes the listed RRsets of a Route 53 hosted zone hold exactly the given values, with one
    C(ChangeResourceRecordSets) batch per zone. For each RRset that changes, the batch holds a C(DELETE) of the RRset
    exactly as it was read (TTL and values as Route 53 returned them) and then a C(CREATE) of the wanted one; address
    records come before the MX records that point at them. C(UPSERT) is never used.
  - Route 53 applies a change batch all or nothing, and refuses a C(DELETE) whose values or TTL do not match what it
    holds. So a change someone made to one of these RRsets after our read fails the whole batch (C(InvalidChangeBatch))
    and nothing is applied, instead of being overwritten. Right before the batch, every listed RRset is read again as
    well - those it changes and those the change relies on (the MX RRset, each target's A/AAAA); if anything moved since
    the plan, the run fails and nothing is sent.
  - Once every zone's batch is submitted, the module waits (O(wait)) until Route 53 reports each change C(INSYNC) -
    served by all its name servers - asking C(GetChange) every 2 seconds, for at most O(wait_timeout) seconds in all.
    The zones' changes propagate side by side, so many zones wait about as long as one.
  - Reading never lists a big zone whole - C(ListResourceRecordSets) from the zone's apex, one page of up to 300
    RRsets (for a small zone, all of it, so one request), then, for each listed name not complete on that page, a
    listing from that name, following the pagination while the name goes on.
  - An RRset at a listed name and type that is an alias, has a routing policy (weighted, latency, failover,
    geolocation, multivalue, IP-based, with a C(SetIdentifier)) or belongs to a traffic policy cannot be replaced
    exactly by a plain RRset - the run fails naming it and nothing is changed.
  - The hosted zone is found by name, public or private as O(private_zone) says, or given as O(hosted_zone_id).
  - Every option that reaches a request is checked before anything is sent - a control character in the zone, a name,
    a value, O(hosted_zone_id), O(endpoint_url), O(profile), O(region) or a credential is refused with a message naming
    the option (secrets are never shown).
extends_documentation_fragment:
  - mailsec.mx.record_sets
  - ansible.builtin.action_common_attributes
options:
  access_key:
    description:
      - AWS access key ID. If not set, boto3 finds credentials itself - the environment (E(AWS_ACCESS_KEY_ID),
        E(AWS_SECRET_ACCESS_KEY), E(AWS_SESSION_TOKEN), E(AWS_PROFILE)), the shared config and credentials files, or
        a container or instance role.
      - Give it together with O(secret_key). Cannot be combined with O(profile).
    type: str
    aliases: [aws_access_key_id, aws_access_key]
  secret_key:
    description: AWS secret access key, with O(access_key). Never shown in output or messages.
    type: str
    aliases: [aws_secret_access_key, aws_secret_key]
  session_token:
    description: AWS session token for temporary credentials, with O(access_key) and O(secret_key). Never shown.
    type: str
    aliases: [aws_session_token]
  profile:
    description: A named profile of the AWS config and credentials files. Cannot be combined with O(access_key).
    type: str
    aliases: [aws_profile]
  region:
    description:
      - AWS region the client is set up for. Route 53 is a global service, so this matters only for the partition
        (for example V(cn-north-1) for China).
      - If not set, boto3's (E(AWS_REGION), E(AWS_DEFAULT_REGION), the profile's), else V(us-east-1).
    type: str
    aliases: [aws_region]
  endpoint_url:
    description:
      - Use this URL instead of Route 53's own endpoint, for example a VPC endpoint or a local stand-in such as moto.
      - Requests are signed, so the secret key never travels; but a plain V(http://) URL sends the records, and the
        O(session_token) if any, unencrypted. Use V(https://) unless the endpoint is on loopback.
    type: str
    aliases: [aws_endpoint_url]
  validate_certs:
    description: Check the endpoint's TLS certificate.
    type: bool
    default: true
  hosted_zone_id:
    description:
      - The hosted zone to change (V(Z1D633PJN98FT9) or V(/hostedzone/Z1D633PJN98FT9)), for O(zone). It must be that
        zone's hosted zone. With O(zones), give C(hosted_zone_id) in the entries that need one instead.
      - If not set, the zone is found by name among the account's hosted zones of the kind O(private_zone) says.
    type: str
  private_zone:
    description:
      - Which of a public and a private hosted zone of the same name is meant when the zone is found by name.
        More than one match fails the run, asking for O(hosted_zone_id).
      - Not used when O(hosted_zone_id) is given.
    type: bool
    default: false
  wait:
    description: Wait, after the last zone's batch, until Route 53 reports every zone's change C(INSYNC).
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for C(INSYNC), for all zones together. When they run out the task fails saying the change was
        accepted (it goes on by itself), giving its id, and reporting the zones changed.
    type: int
    default: 300
notes:
  - What the real service guarantees, which this module relies on - a change batch is atomic (all or nothing); a
    C(DELETE) must match the current RRset exactly (values and TTL), so a batch made from a stale read is refused as a
    whole; a change is C(PENDING) and then C(INSYNC) once all Route 53 name servers serve it (usually within 60
    seconds); the API takes 5 requests per second per account (boto3 retries throttled requests, up to 5 attempts);
    a batch holds at most 1,000 values and 32,000 characters of values, a C(DELETE) and a C(CREATE) both counting
    (the module refuses a larger one before sending it).
  - What the tests could not check - they run against moto's server, which applies a batch change by change (a partly
    invalid batch is partly applied) and deletes with stale values. They check what the module sends (a C(DELETE) of the
    values as read, then a C(CREATE)) and that a concurrent change is caught by the fresh read; the refusal of a stale
    batch by Route 53 itself is documented AWS behaviour, not tested here. moto reports every change C(INSYNC) at once
    and does not escape V(*) as V(\\052) in names, which real Route 53 does (the module reads both).
  - Requests per zone - one to find the hosted zone (none again for the same zone in a run), one or more
    C(ListResourceRecordSets) per read (the plan's read and the fresh read), one C(ChangeResourceRecordSets) when
    something changes, and C(GetChange) while waiting (after the last batch, for all zones at once).
  - The credentials need C(route53:ListHostedZonesByName) (or C(route53:GetHostedZone) with O(hosted_zone_id)),
    C(route53:ListResourceRecordSets), C(route53:ChangeResourceRecordSets) and C(route53:GetChange).
attributes:
  platform:
    platforms: posix
requirements:
  - boto3 >= 1.28.0
  - botocore >= 1.31.0
seealso:
  - module: mailsec.mx.rfc2136_record_set
  - module: mailsec.mx.powerdns_record_set
"""

EXAMPLES = r"""
- name: Publish a nolisting layout in the public hosted zone example.org (credentials from the environment or a role)
  mailsec.mx.route53_record_set:
    zone: example.org
    record_sets:
      - {name: nolist.example.org, type: A, ttl: 3600, values: [203.0.113.10]}
      - {name: nolist.example.org, type: AAAA, ttl: 3600, values: ["2001:db8::10"]}
      - {name: example.org, type: MX, ttl: 3600, values: ["10 nolist.example.org", "20 mail.example.org"]}
  delegate_to: localhost

- name: The private zone of the same name, with a named profile
  mailsec.mx.route53_record_set:
    profile: dns-admin
    zone: example.org
    private_zone: true
    record_sets:
      - {name: example.org, type: MX, values: ["10 mail.example.org"]}
  delegate_to: localhost

- name: Many zones in one call, one change batch each; one of them given by id
  mailsec.mx.route53_record_set:
    access_key: "{{ vault_aws_access_key }}"
    secret_key: "{{ vault_aws_secret_key }}"
    zones:
      - {zone: a.example, record_sets: "{{ a_sets }}"}
      - {zone: b.example, hosted_zone_id: Z0123456789ABCDEFGHIJ, record_sets: "{{ b_sets }}"}
  delegate_to: localhost
"""

RETURN = r"""
changes:
  description: For a single O(zone), the RRsets that changed (or would in check mode), with their state before and after.
  returned: when one zone was given
  type: list
  elements: dict
  sample:
    - name: example.org.
      type: MX
      before: null
      after: {name: example.org., type: MX, ttl: 3600, values: ["10 nolist.example.org.", "20 mail.example.org."]}
zones:
  description: Per zone, whether it changed and its changes; a failed zone has V(failed=true) and its error in V(msg).
  returned: always
  type: list
  elements: dict
failed_zones:
  description: The zones that failed (each with its error in RV(zones)); the others were published.
  returned: always
  type: list
  elements: str
progress:
  description: One line per 1,000 zones done - how many changed and failed so far.
  returned: always
  type: list
  elements: str
  sample: ["1,000 of 2,000 zones done: 998 changed, 2 failed", "2,000 of 2,000 zones done: 1,998 changed, 2 failed"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import record_set_argument_spec, run_module
from ansible_collections.mailsec.mx.plugins.module_utils._route53 import Route53Provider, boto3

BOTO3_IMPORT_ERROR = None if boto3 is not None else traceback.format_exc()


def argument_spec():
    spec = record_set_argument_spec()
    spec.update(
        # An access key id is not a secret (it shows in IAM and in logs); no_log=False says so to the sanity test.
        access_key=dict(type="str", aliases=["aws_access_key_id", "aws_access_key"], no_log=False),
        secret_key=dict(type="str", aliases=["aws_secret_access_key", "aws_secret_key"], no_log=True),
        session_token=dict(type="str", aliases=["aws_session_token"], no_log=True),
        profile=dict(type="str", aliases=["aws_profile"]),
        region=dict(type="str", aliases=["aws_region"]),
        endpoint_url=dict(type="str", aliases=["aws_endpoint_url"]),
        validate_certs=dict(type="bool", default=True),
        hosted_zone_id=dict(type="str"),
        private_zone=dict(type="bool", default=False),
        wait=dict(type="bool", default=True),
        wait_timeout=dict(type="int", default=300),
    )
    return spec


# Whether this Python can run the module (the action plugin runs it in the controller's process only then).
LIBRARY_PRESENT = boto3 is not None


def module_options():
    """AnsibleModule's keywords: for main(), and for the action plugin that runs this module inside Ansible's process."""
    return dict(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        required_together=[["access_key", "secret_key"]],
        required_by={"session_token": ["access_key", "secret_key"]},
        mutually_exclusive=[["profile", "access_key"], ["profile", "secret_key"], ["profile", "session_token"]],
    )


def run(module):
    if boto3 is None:
        module.fail_json(msg=missing_required_lib("boto3"), exception=BOTO3_IMPORT_ERROR)
    params = module.params

    def make_provider(zone_settings):
        return Route53Provider(
            {zone: settings["hosted_zone_id"] for zone, settings in zone_settings.items()},
            private_zone=params["private_zone"], access_key=params["access_key"], secret_key=params["secret_key"],
            session_token=params["session_token"], profile=params["profile"], region=params["region"],
            endpoint_url=params["endpoint_url"], validate_certs=params["validate_certs"], wait=params["wait"],
            wait_timeout=params["wait_timeout"])

    run_module(module, make_provider, zone_options=("hosted_zone_id",))


def main():
    run(AnsibleModule(**module_options()))


if __name__ == "__main__":
    main()
