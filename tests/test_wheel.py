"""The default pack ships inside the wheel: build it, install it into a fresh venv, and run `iop check` from it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from .conftest import ROOT

EXAMPLE = ROOT / "examples" / "answers" / "iop-candidate.yaml"


def test_wheel_carries_the_default_pack(tmp_path):
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
        check=True,
        timeout=300,
    )
    (wheel,) = dist.glob("iop_cli-*.whl")

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    # Install the wheel alone; its dependencies come from this environment through a .pth file, so the test needs
    # no network. The wheel's own package comes first on the path, and the source tree is not on it at all.
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    (site / "outer.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "IOP_RULES")}
    where = subprocess.check_output(
        [python, "-c", "from iop_cli.pack.build import default_pack_dir; print(default_pack_dir())"],
        text=True, cwd=tmp_path, env=env,
    ).strip()  # fmt: skip
    assert where.startswith(str(site)), where
    assert (Path(where) / "rules.yaml").is_file()

    result = subprocess.run(
        [env_dir / "bin" / "iop", "check", "--answers", str(EXAMPLE), "--format", "json"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["level"]["id"] == "iop"
