"""Shared helpers: the default pack, a way to run the installed `iop` command, and small packs to break."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iop_cli.pack import default_pack_dir, load_pack

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


@pytest.fixture(scope="session")
def pack():
    return load_pack()


def iop_command() -> list[str]:
    """The installed console script when it is on PATH beside this Python, else the module."""
    script = Path(sys.executable).with_name("iop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "iop_cli"]


def run_iop(*args: str, input: str | None = None, cwd: Path | None = None, env: dict | None = None):
    full_env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", **(env or {})}
    full_env.pop("IOP_RULES", None)
    return subprocess.run(
        [*iop_command(), *args], input=input, capture_output=True, text=True, cwd=cwd, env=full_env, timeout=60
    )


@pytest.fixture
def pack_copy(tmp_path):
    """A writable copy of the default pack, for tests that break it on purpose."""
    target = tmp_path / "pack"
    shutil.copytree(default_pack_dir(), target)
    return target
