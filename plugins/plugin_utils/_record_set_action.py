# -*- coding: utf-8 -*-
# Copyright: mailsec.mx contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The action plugin of every *_record_set module: on the controller, the module runs inside Ansible's own process.

Publishing 10,000 zones through a module means sending every zone's record sets
to a second Python process as JSON, which AnsibleModule then copies, logs and
echoes back (``invocation``), and waiting in silence until the last zone is done.
When the task runs on the controller anyway (``delegate_to: localhost``, the
roles' default: a local connection, no become, no async, no task environment),
the module's own ``run`` is called here with its own options: the same checks
(ArgumentSpecValidator with the module's argument spec), the same code path, no
second process, and a progress line after every chunk of zones. Anywhere else,
or when the controller's Python lacks the module's library, the module runs as a
module.
"""

from __future__ import annotations

import importlib

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import remove_values
from ansible.plugins.action import ActionBase
from ansible.utils.display import Display

display = Display()
# The AnsibleModule keywords that ArgumentSpecValidator takes too.
_VALIDATOR_KEYWORDS = ("mutually_exclusive", "required_together", "required_one_of", "required_if", "required_by")


class _Exited(Exception):
    def __init__(self, result):
        super().__init__(result.get("msg", ""))
        self.result = result


class InProcessModule:
    """What a *_record_set module's ``run`` uses of AnsibleModule, for a run inside the controller's process."""

    def __init__(self, params, check_mode, diff, host):
        self.params = params
        self.check_mode = check_mode
        self._diff = diff
        self.host = host
        self.warnings = []

    def show_progress(self, line):
        display.display("%s: %s" % (self.host, line))

    def warn(self, warning):
        self.warnings.append(warning)

    def exit_json(self, **result):
        raise _Exited(result)

    def fail_json(self, msg, **result):
        result.pop("exception", None)
        raise _Exited(dict(result, failed=True, msg=msg))


class RecordSetAction(ActionBase):
    """Subclasses name their module (``module_name``: ``rfc2136_record_set``)."""

    TRANSFERS_FILES = False
    _supports_check_mode = True
    _supports_async = True
    module_name = None

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        module = importlib.import_module("ansible_collections.mailsec.mx.plugins.modules.%s" % self.module_name)
        if not self._in_process(module):
            result.update(self._execute_module(module_name="mailsec.mx.%s" % self.module_name, module_args=self._task.args,
                                               task_vars=task_vars, wrap_async=self._task.async_val))
            return result
        options = module.module_options()
        validated = ArgumentSpecValidator(options["argument_spec"], **{key: options[key] for key in _VALIDATOR_KEYWORDS if key in options}
                                          ).validate(dict(self._task.args))
        no_log_values = validated._no_log_values  # pylint: disable=protected-access
        if validated.error_messages:
            result.update(failed=True, msg=remove_values("; ".join(validated.error_messages), no_log_values))
            return result
        shim = InProcessModule(validated.validated_parameters, self._play_context.check_mode, self._play_context.diff,
                               self._task.delegate_to or task_vars.get("inventory_hostname", "localhost"))
        try:
            module.run(shim)
        except _Exited as exited:
            outcome = exited.result
        else:  # run() always ends in exit_json or fail_json
            outcome = dict(failed=True, msg="%s ended without a result" % self.module_name)
        if shim.warnings:
            outcome["warnings"] = shim.warnings
        result.update(remove_values(outcome, no_log_values) if no_log_values else outcome)
        return result

    def _in_process(self, module):
        """True when the module would run on the controller, with the controller's Python able to run it."""
        return (self._connection.transport in ("local", "ansible.builtin.local")
                and not self._play_context.become and not self._task.async_val
                # The task's environment (a list of mappings, [{}] when it sets none) reaches a module's process only.
                and not any(self._task.environment or ())
                and module.LIBRARY_PRESENT)
