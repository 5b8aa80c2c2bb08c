# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The MX layout filters: mx_problems, mx_ordered, mx_rdata and mx_record_sets.

Their documentation lives beside this file (mx_problems.yml, ...) because one
file holds four filters; the rules live in module_utils/_layout.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mx.plugins.module_utils._layout import (
    LayoutError,
    layout_problems,
    layout_rdata,
    layout_record_sets,
    ordered_layout,
)
from ansible_collections.mailsec.mx.plugins.module_utils._recordset import RecordSetError


def _call(filter_name, function, layout, allow_multiple_dead, address_limit):
    try:
        return function(layout, allow_multiple_dead=allow_multiple_dead, address_limit=address_limit)
    except (LayoutError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("mailsec.mx.%s: %s" % (filter_name, exc)) from exc


def mx_problems(layout, allow_multiple_dead=False, address_limit=5):
    return _call("mx_problems", layout_problems, layout, allow_multiple_dead, address_limit)


def mx_ordered(layout, allow_multiple_dead=False, address_limit=5):
    return _call("mx_ordered", ordered_layout, layout, allow_multiple_dead, address_limit)


def mx_rdata(layout, allow_multiple_dead=False, address_limit=5):
    return _call("mx_rdata", layout_rdata, layout, allow_multiple_dead, address_limit)


def mx_record_sets(layout, zone, name=None, ttl=3600, allow_multiple_dead=False, address_limit=5, for_removal=False):
    try:
        return layout_record_sets(layout, zone, name, ttl, allow_multiple_dead=allow_multiple_dead, address_limit=address_limit,
                                  for_removal=for_removal)
    except (LayoutError, RecordSetError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("mailsec.mx.mx_record_sets: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {
            "mx_problems": mx_problems,
            "mx_ordered": mx_ordered,
            "mx_rdata": mx_rdata,
            "mx_record_sets": mx_record_sets,
        }
