"""The command-line tools that import TensorFlow print none of its native log lines unless asked
(--verbose or LOG_LEVEL=debug): run as a user runs them, in a fresh process, reading stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.nodes import REPO

# TensorFlow's C++ log format (`I0000 00:00:1796113149.715951   22829 cudart_stub.cc:31] ...`), absl's
# pre-initialisation notice, and the lines the issue names.
NOISE = re.compile(
    r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+|absl::InitializeLog|Could not find cuda drivers|cuInit|oneDNN"
    r"|cpu_feature_guard|To enable the following instructions|^WARNING:absl:",
    re.MULTILINE,
)


def run_tool(script: str, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python scripts/NAME.py ...` in a new process, with TF_CPP_MIN_LOG_LEVEL unset as on a user's shell."""
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "LOG_LEVEL")}
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**environ, **env},
    )


def noise(stderr: str) -> list[str]:
    """The lines of `stderr` that are TensorFlow's native log."""
    return [line for line in stderr.splitlines() if NOISE.search(line)]


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """Two of the repository's sample photos."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("chelsea.jpg", "coffee.jpg"):
        (folder / name).write_bytes((REPO / "images" / name).read_bytes())
    return folder


def test_sender_local_is_quiet_and_verbose_shows_tensorflow(tiny_model_dirs, photos, tmp_path):
    args = [str(photos), "--local", "--model", str(tiny_model_dirs["openimages"]), "--no-progress"]
    quiet = run_tool("sender.py", [*args, "--output-dir", str(tmp_path / "q")], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert noise(quiet.stderr) == [], quiet.stderr
    assert "model ready" in quiet.stderr and "2 images to this process" in quiet.stderr  # its own lines stay

    loud = run_tool("sender.py", [*args, "--output-dir", str(tmp_path / "v"), "--verbose"], tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert noise(loud.stderr), loud.stderr


def test_sender_local_with_log_level_debug_shows_tensorflow(tiny_model_dirs, photos, tmp_path):
    args = [str(photos), "--local", "--model", str(tiny_model_dirs["openimages"]), "--no-progress", "--limit", "1"]
    loud = run_tool("sender.py", [*args, "--output-dir", str(tmp_path / "d")], tmp_path, LOG_LEVEL="debug")
    assert loud.returncode == 0, loud.stderr
    assert noise(loud.stderr), loud.stderr


def test_fetch_model_is_quiet_and_verbose_shows_tensorflow(tiny_model_dirs, tmp_path):
    model = str(tiny_model_dirs["zoo"])
    quiet = run_tool("fetch_model.py", [model, "--dest", str(tmp_path / "q")], tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stderr == "" and quiet.stdout.startswith("ok: ")

    loud = run_tool("fetch_model.py", [model, "--dest", str(tmp_path / "v"), "--verbose"], tmp_path)
    assert loud.returncode == 0, loud.stderr
    assert noise(loud.stderr), loud.stderr


def test_a_failing_tensorflow_import_still_shows_why(tmp_path):
    """The held-back lines come back when the import itself fails, so the error stays readable."""
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import os\nos.write(2, b'native: libfoo.so not found\\n')\nraise ImportError('broken TensorFlow')\n"
    )
    code = "from detector.quiet import quiet_tensorflow\nquiet_tensorflow()\n"
    env = {**os.environ, "PYTHONPATH": f"{fake.parent}{os.pathsep}{REPO}"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "native: libfoo.so not found" in result.stderr and "broken TensorFlow" in result.stderr
