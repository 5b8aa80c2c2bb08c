#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: zonefile_record_set
short_description: Publish whole RRsets (MX, A, AAAA) in a BIND zone file, changing only their lines
version_added: 0.1.0
author: mailsec.mx developers (@mailsec)
description:
  - Makes the listed RRsets of a zone hold exactly the given values in a BIND-format zone file (O(path)) that you
    keep, for example, in git. Only the lines of those RRsets change - every other line (comments, C($TTL),
    C($ORIGIN), C($INCLUDE), C($GENERATE), the order, the other records) stays byte for byte as it was, line endings
    (LF or CRLF) and bytes that are not UTF-8 included.
  - A new or changed RRset is written as whole lines with an absolute owner, an explicit TTL and class C(IN), one line
    per value, where its first line was - or after the last line of the same owner, or at the end of the file,
    whichever is first where the next record still inherits the owner and TTL it had. When a removed line used to
    lend its owner (or, without C($TTL), its TTL) to the next line, that line gets it written out.
  - The SOA serial is increased only when something changed - in the date form C(YYYYMMDDnn) when the serial already
    has that form (today's date in UTC with C(00), or the old serial plus one when that is greater), else by one
    (RFC 1982; past 4294967295 it wraps to 1). A rerun with the same values leaves the file byte-identical.
  - The file is read with BIND's own parser (C(named-checkzone -D)) and with a line scanner that finds the lines to
    change; if a listed RRset has records the scanner cannot edit - in an C($INCLUDE)d file or made by
    C($GENERATE) - the task fails and nothing changes.
  - Before the file is replaced, the new text is loaded with C(named-checkzone) (in check mode too) and compared with
    the old one - every RRset that is not listed must be identical, the listed ones exactly as asked, the SOA
    identical except its serial; otherwise nothing is written. C(named-checkzone) must accept the new zone with
    C(-k fail -M fail -i local) (owner names as named requires for a primary zone, no MX pointing to a CNAME,
    in-zone integrity only - out-of-zone names are not looked up), and an MX of a listed RRset whose in-zone target
    has no A or AAAA record is refused.
  - The file is replaced atomically (a new file in the same directory, renamed over it, with the old file's mode
    and owner). If the file changed since it was read (an editor, a git pull), the task fails and leaves it as it
    is now. Diff mode shows the file's diff.
  - Every option that reaches a file name or a command line is checked before anything is read - a control character
    in the zone, a name, a value, O(path), O(checkzone_command) or O(include_directory) is refused with a message
    naming the option.
  - The module edits the file where the task runs - for a zone file in the controller's git checkout, delegate the
    task to C(localhost). It needs C(named-checkzone) there - Debian and Ubuntu package C(bind9-utils), RHEL and
    Fedora C(bind-utils) - and nothing else.
extends_documentation_fragment:
  - mailsec.mx.record_sets
  - ansible.builtin.action_common_attributes
options:
  path:
    description:
      - The zone file of O(zone). It must exist and hold the zone's SOA (and NS); a relative path is relative to the
        directory the module runs in, so prefer an absolute one (for example V({{ playbook_dir }}/zones/example.org.zone)).
        A leading V(~) is expanded.
      - With O(zones), each entry gives its own C(path) instead (V({zone, path, record_sets})).
    type: str
  checkzone_command:
    description:
      - The C(named-checkzone) program, a name looked up in E(PATH) or a path, for machines where it lives elsewhere.
        It is run as one program (no shell, no arguments of yours).
    type: str
    default: named-checkzone
  include_directory:
    description:
      - The directory relative C($INCLUDE) file names are resolved against. BIND resolves them against its
        C(directory) option, not the zone file's directory - set this to that directory when your includes rely on
        it. C(named-checkzone) runs with this directory as its working directory.
      - Default - the directory of each zone file (where Knot DNS resolves them too).
    type: str
attributes:
  platform:
    platforms: posix
notes:
  - Only the zone file is edited - records in C($INCLUDE)d files are read (BIND loads them) but never changed, and a
    listed RRset that has records there is an error. Reload the server yourself (C(rndc reload), C(knotc
    zone-reload)) or let your deployment do it after you commit.
  - A zone that the server also changes itself (dynamic updates, DNSSEC signing with a journal) must not be edited
    as a file while the server runs - freeze it first (C(rndc freeze), C(knotc zone-freeze)) or publish with
    M(mailsec.mx.rfc2136_record_set) instead.
  - If O(path) is a symbolic link, it is followed - the file it points to is replaced, the link stays.
seealso:
  - module: mailsec.mx.rfc2136_record_set
  - module: mailsec.mx.powerdns_record_set
"""

EXAMPLES = r"""
- name: Publish a nolisting layout in the zone file kept in the repository
  mailsec.mx.zonefile_record_set:
    path: "{{ playbook_dir }}/zones/example.org.zone"
    zone: example.org
    record_sets:
      - {name: nolist.example.org, type: A, ttl: 3600, values: [203.0.113.10]}
      - {name: example.org, type: MX, ttl: 3600, values: ["10 nolist.example.org", "20 mail.example.org"]}
  delegate_to: localhost

- name: Many zones, one file each; includes relative to named's directory
  mailsec.mx.zonefile_record_set:
    include_directory: /etc/bind
    zones:
      - zone: example.org
        path: /etc/bind/zones/example.org.zone
        record_sets: "{{ example_org_record_sets }}"
      - zone: example.net
        path: /etc/bind/zones/example.net.zone
        record_sets: "{{ example_net_record_sets }}"
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

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import record_set_argument_spec, run_module
from ansible_collections.mailsec.mx.plugins.module_utils._zonefile import CHECKZONE, ZoneFileProvider


# Whether this Python can run the module (the action plugin runs it in the controller's process only then).
LIBRARY_PRESENT = True


def module_options():
    """AnsibleModule's keywords: for main(), and for the action plugin that runs this module inside Ansible's process."""
    argument_spec = record_set_argument_spec()
    argument_spec.update(
        path=dict(type="str"),
        checkzone_command=dict(type="str", default=CHECKZONE),
        include_directory=dict(type="str"),
    )
    return dict(argument_spec=argument_spec, supports_check_mode=True)


def run(module):
    params = module.params
    run_module(module, lambda settings: ZoneFileProvider(settings, params["checkzone_command"], params["include_directory"]),
               zone_options=("path",))


def main():
    run(AnsibleModule(**module_options()))


if __name__ == "__main__":
    main()
