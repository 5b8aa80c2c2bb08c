#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: powerdns_record_set
short_description: Publish whole RRsets (MX, A, AAAA) with one PowerDNS API PATCH per zone
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Makes the listed RRsets of a zone hold exactly the given values, with one PATCH of the PowerDNS Authoritative
    HTTP API per zone (applied by PowerDNS in one transaction).
  - Right before the PATCH, every listed RRset is read again - those it changes and those the change relies on
    (the MX RRset, each target's A/AAAA); if someone changed any of them since they were read, the run fails
    instead of overwriting that change.
  - Disabled records are part of the RRset as read. An RRset that holds any is never reported unchanged - the
    diff and RV(changes) show them (marked V(; disabled) in the diff, under C(disabled) in RV(changes)), and
    the change replaces the whole RRset with exactly the listed values, all enabled - a listed value that was
    disabled is enabled, the other disabled records are removed. With O(state=absent) they are removed with the
    RRset.
  - Every option that reaches the request is checked before anything is sent - a control character in the zone, a
    name, a value, O(api_url), O(api_key) or O(server_id) is refused with a message naming the option.
extends_documentation_fragment:
  - mailsec.mx.record_sets
  - ansible.builtin.action_common_attributes
options:
  api_url:
    description:
      - Base URL of the PowerDNS API, for example V(https://pdns.example.org:8081) or V(http://127.0.0.1:8081).
      - A plain V(http://) URL is refused unless its host is loopback (V(127.0.0.0/8), V(::1), V(localhost)) or
        O(allow_insecure_http=true) - the API key would cross the network unencrypted.
    type: str
    required: true
  allow_insecure_http:
    description:
      - Accept a plain V(http://) O(api_url) to a host other than loopback. The API key and the zone's records then
        cross the network in clear text, open to anyone on the path; prefer https or a loopback tunnel.
    type: bool
    default: false
  api_key:
    description: The API key (C(api-key) in pdns.conf). If not set, the environment variable E(MAILSEC_POWERDNS_API_KEY) is used.
    type: str
    required: true
  server_id:
    description: The PowerDNS server id.
    type: str
    default: localhost
  timeout:
    description: Seconds to wait for each API answer.
    type: float
    default: 10
  validate_certs:
    description: Check the API's TLS certificate.
    type: bool
    default: true
attributes:
  platform:
    platforms: posix
seealso:
  - module: mailsec.mx.rfc2136_record_set
"""

EXAMPLES = r"""
- name: Publish a nolisting layout through the PowerDNS API
  mailsec.mx.powerdns_record_set:
    api_url: http://127.0.0.1:8081
    api_key: "{{ vault_pdns_api_key }}"
    zone: example.org
    record_sets:
      - {name: nolist.example.org, type: A, values: [203.0.113.10]}
      - {name: example.org, type: MX, values: ["10 nolist.example.org", "20 mail.example.org"]}
  delegate_to: localhost
"""

RETURN = r"""
changes:
  description: For a single O(zone), the RRsets that changed (or would in check mode), with their state before and after.
  returned: when one zone was given
  type: list
  elements: dict
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

from ansible.module_utils.basic import AnsibleModule, env_fallback
from ansible_collections.mailsec.mx.plugins.module_utils._powerdns import PowerDnsProvider
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import record_set_argument_spec, run_module


# Whether this Python can run the module (the action plugin runs it in the controller's process only then).
LIBRARY_PRESENT = True


def module_options():
    """AnsibleModule's keywords: for main(), and for the action plugin that runs this module inside Ansible's process."""
    argument_spec = record_set_argument_spec()
    argument_spec.update(
        api_url=dict(type="str", required=True),
        api_key=dict(type="str", required=True, no_log=True, fallback=(env_fallback, ["MAILSEC_POWERDNS_API_KEY"])),
        server_id=dict(type="str", default="localhost"),
        timeout=dict(type="float", default=10.0),
        validate_certs=dict(type="bool", default=True),
        allow_insecure_http=dict(type="bool", default=False),
    )
    return dict(argument_spec=argument_spec, supports_check_mode=True)


def run(module):
    params = module.params
    run_module(module, lambda: PowerDnsProvider(params["api_url"], params["api_key"], params["server_id"],
                                                params["timeout"], params["validate_certs"], params["allow_insecure_http"]))


def main():
    run(AnsibleModule(**module_options()))


if __name__ == "__main__":
    main()
