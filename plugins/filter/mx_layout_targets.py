# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The addresses a layout implies: mx_targets, mx_target_conflicts, and for many domains mx_domains_targets and
mx_domains_without.

Their documentation lives beside this file (mx_targets.yml, ...) because one file holds several filters; the logic
lives in module_utils/_layout.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mx.plugins.module_utils._layout import (
    LayoutError,
    domains_targets,
    domains_without,
    layout_targets,
    target_conflicts,
)


def mx_targets(layout, allow_multiple_dead=False, address_limit=5):
    try:
        return layout_targets(layout, allow_multiple_dead=allow_multiple_dead, address_limit=address_limit)
    except (LayoutError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("mailsec.mx.mx_targets: %s" % exc) from exc


def mx_target_conflicts(targets, hostvars, groups):
    try:
        return target_conflicts(targets, hostvars, groups)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("mailsec.mx.mx_target_conflicts: %s" % exc) from exc


def mx_domains_targets(domains, layout=None, allow_multiple_dead=False, address_limit=5):
    try:
        return domains_targets(domains, layout or None, allow_multiple_dead=allow_multiple_dead, address_limit=address_limit)
    except (LayoutError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("mailsec.mx.mx_domains_targets: %s" % exc) from exc


def mx_domains_without(domains, zones):
    try:
        return domains_without(domains, zones)
    except (TypeError, ValueError, KeyError) as exc:
        raise AnsibleFilterError("mailsec.mx.mx_domains_without: %s" % exc) from exc


class FilterModule:
    def filters(self):
        return {
            "mx_targets": mx_targets,
            "mx_target_conflicts": mx_target_conflicts,
            "mx_domains_targets": mx_domains_targets,
            "mx_domains_without": mx_domains_without,
        }
