#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: rfc2136_record_set
short_description: Publish whole RRsets (MX, A, AAAA) with one signed RFC 2136 UPDATE per zone
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Makes the listed RRsets of a zone hold exactly the given values, with one atomic, TSIG-signed dynamic UPDATE
    per zone, on any RFC 2136 server (BIND, Knot DNS, PowerDNS).
  - The current RRsets are read from the server with queries. Right before the UPDATE every listed RRset is read
    again, and the UPDATE carries prerequisites that every listed RRset still holds the values the plan was made
    from - the ones it changes and the ones it relies on without changing them (the MX RRset, each target's A/AAAA),
    an absent one that it is still absent. A change made by someone else in between (an MX target's address moved,
    for example) fails the whole UPDATE (NXRRSET/YXRRSET) with a clear error and nothing is applied.
  - Every option that reaches a DNS message is checked before anything is sent or looked up - a control character
    (newline, CR, NUL, ...) in the zone, a name, a value, O(key_name) or O(server) is refused with a message naming
    the option and the value.
  - Within one UPDATE, address records go in before the MX records that point at them.
extends_documentation_fragment:
  - mailsec.mx.record_sets
  - ansible.builtin.action_common_attributes
options:
  server:
    description: The primary (authoritative) server of the zone, a name or an address.
    type: str
    required: true
  port:
    description: The server's DNS port.
    type: int
    default: 53
  protocol:
    description: Transport for queries and the UPDATE.
    type: str
    choices: [tcp, udp]
    default: tcp
  key_name:
    description:
      - TSIG key name, a DNS name (for example V(mailsec-key)). Without it, the UPDATE is sent unsigned.
    type: str
  key_secret:
    description:
      - TSIG secret, strict base64 (RFC 4648 - A-Z, a-z, 0-9, V(+), V(/) and V(=) padding, no spaces or line
        breaks), as in the key file. Anything else is refused before anything is sent.
      - If not set, the environment variable E(MAILSEC_TSIG_SECRET) is used.
    type: str
  key_algorithm:
    description: TSIG algorithm.
    type: str
    choices: [hmac-sha256, hmac-sha384, hmac-sha512, hmac-sha224, hmac-sha1, hmac-md5]
    default: hmac-sha256
  timeout:
    description: Seconds to wait for each answer.
    type: float
    default: 10
attributes:
  platform:
    platforms: posix
requirements:
  - dnspython >= 2.3
seealso:
  - module: mailsec.mx.powerdns_record_set
"""

EXAMPLES = r"""
- name: Publish a nolisting layout
  mailsec.mx.rfc2136_record_set:
    server: ns1.example.org
    key_name: mailsec-key
    key_secret: "{{ vault_tsig_secret }}"
    zone: example.org
    record_sets:
      - {name: nolist.example.org, type: A, ttl: 3600, values: [203.0.113.10]}
      - {name: example.org, type: MX, ttl: 3600, values: ["10 nolist.example.org", "20 mail.example.org"]}
  delegate_to: localhost

- name: Many zones in one call, one atomic UPDATE each
  mailsec.mx.rfc2136_record_set:
    server: 198.51.100.53
    key_name: mailsec-key
    zones: "{{ my_zones }}"   # [{zone: a.example, record_sets: [...]}, ...]
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

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import ProviderError, record_set_argument_spec, run_module
from ansible_collections.mailsec.mx.plugins.module_utils._rfc2136 import TSIG_ALGORITHMS, Rfc2136Provider, dns

DNS_IMPORT_ERROR = None if dns is not None else traceback.format_exc()


# Whether this Python can run the module (the action plugin runs it in the controller's process only then).
LIBRARY_PRESENT = dns is not None


def module_options():
    """AnsibleModule's keywords: for main(), and for the action plugin that runs this module inside Ansible's process."""
    argument_spec = record_set_argument_spec()
    argument_spec.update(
        server=dict(type="str", required=True),
        port=dict(type="int", default=53),
        protocol=dict(type="str", choices=["tcp", "udp"], default="tcp"),
        key_name=dict(type="str"),
        key_secret=dict(type="str", no_log=True, fallback=(env_fallback, ["MAILSEC_TSIG_SECRET"])),
        key_algorithm=dict(type="str", choices=list(TSIG_ALGORITHMS), default="hmac-sha256"),
        timeout=dict(type="float", default=10.0),
    )
    return dict(argument_spec=argument_spec, supports_check_mode=True, required_by={"key_name": ["key_secret"]})


def run(module):
    if dns is None:
        module.fail_json(msg=missing_required_lib("dnspython"), exception=DNS_IMPORT_ERROR)
    params = module.params

    def make_provider():
        try:
            return Rfc2136Provider(params["server"], params["port"], params["protocol"], params["key_name"],
                                   params["key_secret"], params["key_algorithm"], params["timeout"])
        except ProviderError as exc:
            module.fail_json(msg="%s; nothing was sent" % exc)

    run_module(module, make_provider)


def main():
    run(AnsibleModule(**module_options()))


if __name__ == "__main__":
    main()
