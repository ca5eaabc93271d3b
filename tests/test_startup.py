"""Start-up stays light: `iop --help` and `iop --version` import no heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# pydantic: Typer 0.29 and later import it to convert options (about 80 ms); pyproject holds Typer below that.
HEAVY = ("questionary", "yaml", "polars", "prompt_toolkit", "platformdirs", "sqlite3", "pydantic")
PROBE = """
import json, sys
from iop_cli.cli import app
try:
    app(args=sys.argv[1:], prog_name="iop")
except SystemExit:
    pass
print("\\n" + json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--version"],
        ["check", "--help"],
        ["intake", "--help"],
        ["records", "--help"],
        ["records", "list", "-h"],
    ],
)
def test_help_and_version_import_no_heavy_library(args):
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = set(json.loads(result.stdout.strip().splitlines()[-1]))
    assert "iop_cli" in loaded and "typer" in loaded  # the probe really ran the app
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_the_core_imports_no_edge():
    """The pure core (pack, expressions, engine, interview state machine) loads no terminal, CLI or storage code."""
    probe = (
        "import json, sys; import iop_cli.interview.machine, iop_cli.decide.engine, iop_cli.pack.build; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    loaded = set(json.loads(result.stdout))
    assert "iop_cli" in loaded
    assert not loaded & {"typer", "rich", "questionary", "prompt_toolkit", "sqlite3", "click"}
