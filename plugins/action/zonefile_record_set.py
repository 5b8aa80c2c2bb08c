# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""zonefile_record_set on the controller runs inside Ansible's process (see plugin_utils/_record_set_action.py)."""

from __future__ import annotations

from ansible_collections.mailsec.mx.plugins.plugin_utils._record_set_action import RecordSetAction


class ActionModule(RecordSetAction):
    module_name = "zonefile_record_set"
