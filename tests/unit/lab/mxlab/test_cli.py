"""lab.mxlab.cli: `python -m lab.mxlab` refuses a bad spec before it creates anything."""

import json

from lab import mxlab
from tests.unit.lab.mxlab.specs import host, spec


def test_cli_rejects_a_bad_spec_before_creating_anything(tmp_path, capsys):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec(hosts=[host(addresses=["192.0.2.5/24"])])))
    state_dir = tmp_path / "state"
    assert mxlab.main(["up", str(spec_file), "--state-dir", str(state_dir)]) == 2
    assert "192.0.2.5/24 is outside the lab ranges" in capsys.readouterr().err
    assert not state_dir.exists()
