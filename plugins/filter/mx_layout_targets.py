# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The addresses a layout implies: mx_targets and mx_target_conflicts.

Their documentation lives beside this file (mx_targets.yml, mx_target_conflicts.yml) because one file holds two
filters; the logic lives in module_utils/_layout.py.
"""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mx.plugins.module_utils._layout import (
    LayoutError,
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


class FilterModule:
    def filters(self):
        return {
            "mx_targets": mx_targets,
            "mx_target_conflicts": mx_target_conflicts,
        }
