#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: octodns_record_set
short_description: Write whole RRsets (MX, A, AAAA) into an octoDNS YAML zone config
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Makes the listed RRsets of a zone hold exactly the given values in the zone's octoDNS YAML config - the file
    octoDNS's C(YamlProvider) reads for the zone (C(<directory>/<zone>.yaml)). Your pipeline then publishes it with
    C(octodns-sync) to any octoDNS provider; nothing is served until it does.
  - Only the listed names and types change. Every other name, every record of another type at a listed name (the
    apex's NS and TXT, for example), comments, blank lines, quoting and key order are kept byte for byte; a rerun
    with the same RRsets leaves the file byte-identical. A new name goes where octoDNS's key order
    (C(enforce_order), natural sort) puts it. A name holding one record is written as a mapping, several as a list,
    as octoDNS writes them; when a name changes between the two, its other records are re-indented, not rewritten.
    Comment lines right above a record describe it and go with it - removed with a record of ours, moved with a
    kept record when a list becomes a mapping or back; comments inside a record of ours are replaced with it.
  - Records are written with C(ttl), C(type) and C(value) (one value) or C(values), MX values as
    C({exchange, preference}) with an absolute exchange. A record of ours without C(ttl) is read with octoDNS's
    default C(default_ttl) of 3600.
  - All changes to a file are one atomic rename. The new text is parsed back before it is written (in check mode
    too) - everything that is not ours must read back equal, ours exactly as wanted - and checked the way octoDNS
    checks our records (values present, TTL an integer, MX exchange absolute). If the file changed since it was read
    (an editor, a git pull), the run fails and the file is left as they made it.
  - What cannot be edited without losing something is refused, naming the file and line, and nothing is written -
    a record of ours that carries octoDNS metadata (C(octodns), C(dynamic), C(geo)) or keys of its own, YAML anchors
    or aliases in a record of ours or on its name (those inside records of other types move with them), a key written
    twice in one mapping, merge keys (C(<<)) at the top level, a name written twice (C(Mail) and C(mail)) or as an
    explicit key (C(? name)), a CNAME beside our records, a flow-style list (C([...])) at one of our names.
  - Every option that reaches the file is checked first - a control character in O(path), the zone, a name or a value is
    refused with a message naming the option.
  - Runs where the file is (usually the controller, with C(delegate_to)); needs PyYAML there, not octoDNS.
extends_documentation_fragment:
  - mailsec.mx.record_sets
  - ansible.builtin.action_common_attributes
options:
  path:
    description:
      - The zone's octoDNS YAML config, for example V(config/example.org.yaml). It must exist (an empty zone is
        V(--- {})). A relative path is relative to the directory the module runs in; give an absolute one (for example
        V({{ playbook_dir }}/config/example.org.yaml)) to be sure.
      - With O(zones), each entry gives its own C(path) instead.
    type: str
requirements:
  - PyYAML
attributes:
  platform:
    platforms: posix
notes:
  - The diff is the file's diff, with O(path) as its header.
  - Split zone directories (C(split_extension)) and C(shared_filename) are not edited; give the zone's own file.
seealso:
  - module: mailsec.mx.rfc2136_record_set
  - name: octoDNS YamlProvider
    description: The file format this module edits.
    link: https://github.com/octodns/octodns/blob/main/octodns/provider/yaml.py
"""

EXAMPLES = r"""
- name: Write a nolisting layout into the octoDNS config, then let the pipeline run octodns-sync
  mailsec.mx.octodns_record_set:
    path: "{{ playbook_dir }}/config/example.org.yaml"
    zone: example.org
    record_sets:
      - {name: nolist.example.org, type: A, ttl: 300, values: [203.0.113.10]}
      - {name: example.org, type: MX, ttl: 300, values: ["10 nolist.example.org", "20 mail.example.org"]}
  delegate_to: localhost

- name: Many zones, each in its own file
  mailsec.mx.octodns_record_set:
    zones:
      - zone: example.org
        path: "{{ playbook_dir }}/config/example.org.yaml"
        record_sets:
          - {name: example.org, type: MX, values: ["10 mail.example.org"]}
      - zone: example.net
        path: "{{ playbook_dir }}/config/example.net.yaml"
        record_sets:
          - {name: example.net, type: MX, values: ["10 mail.example.org"]}
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

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.mailsec.mx.plugins.module_utils._octodns import HAS_YAML, OctodnsProvider
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import record_set_argument_spec, run_module


# Whether this Python can run the module (the action plugin runs it in the controller's process only then).
LIBRARY_PRESENT = HAS_YAML


def module_options():
    """AnsibleModule's keywords: for main(), and for the action plugin that runs this module inside Ansible's process."""
    argument_spec = record_set_argument_spec()
    argument_spec.update(path=dict(type="str"))
    return dict(argument_spec=argument_spec, supports_check_mode=True)


def run(module):
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"))
    run_module(module, OctodnsProvider, zone_options=("path",))


def main():
    run(AnsibleModule(**module_options()))


if __name__ == "__main__":
    main()
