"""Run an Ansible module's main() in-process, the way the unit and integration tests do."""

import json

import pytest
from ansible.module_utils.testing import patch_module_args


def run_main(module, capsys, **args):
    """Call ``module.main()`` with ``args`` as its module arguments; return the JSON it exits with."""
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)
