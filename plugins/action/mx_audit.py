# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""mx_audit runs on the controller, in this process: its input is every remembered source of every host (100,000s),
which a module would receive as JSON through a second Python process and send back. Same options, same code
(module_utils/_audit_module.py), files written on the controller."""

from __future__ import annotations

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

from ansible_collections.mailsec.mx.plugins.module_utils._audit import AuditError
from ansible_collections.mailsec.mx.plugins.module_utils._audit_module import ARGUMENT_SPEC, run


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(dict(self._task.args))
        if validated.error_messages:
            result.update(failed=True, msg="; ".join(validated.error_messages) + "; nothing was looked up or written")
            return result
        try:
            result.update(run(validated.validated_parameters, self._play_context.check_mode))
        except AuditError as exc:
            result.update(failed=True, msg=str(exc))
        return result
