"""The project's shape: entry points that run from any folder, pins that agree, no path hacks, thin scripts."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from harness.nodes import REPO

SCRIPTS = sorted(p.stem for p in (REPO / "scripts").glob("*.py") if p.stem != "__init__")
PACKAGES = ["app", "bench", "client", "detector", "harness", "measure", "reporting", "scripts", "tests"]
MAX_SCRIPT_LINES = 90  # "about 80": an entry point parses its arguments and calls library code


def _python_files() -> list[Path]:
    files = [REPO / "gunicorn.conf.py"]
    for package in PACKAGES:
        files += sorted((REPO / package).rglob("*.py"))
    return files


@pytest.mark.parametrize("name", SCRIPTS)
def test_every_script_answers_help_from_another_folder_as_a_file_and_as_a_module(name, tmp_path):
    for argv in ([str(REPO / "scripts" / f"{name}.py"), "--help"], ["-m", f"scripts.{name}", "--help"]):
        proc = subprocess.run([sys.executable, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("usage:"), proc.stdout[:200]


def test_scripts_are_thin_entry_points():
    for name in SCRIPTS:
        path = REPO / "scripts" / f"{name}.py"
        lines = path.read_text().splitlines()
        assert len(lines) <= MAX_SCRIPT_LINES, f"{path.name} has {len(lines)} lines"
        tree = ast.parse(path.read_text())
        functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
        assert "main" in functions and len(functions) <= 2, (path.name, functions)


def test_no_code_changes_sys_path():
    offenders = [
        str(p.relative_to(REPO)) for p in _python_files() if re.search(r"sys\.path\.(insert|append)", p.read_text())
    ]
    assert offenders == []


def test_every_noqa_and_type_ignore_says_why():
    bare = []
    for path in _python_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for marker in re.finditer(r"#\s*(noqa(?::\s*[A-Z0-9, ]+)?|type:\s*ignore(?:\[[\w, -]+\])?)(.*)", line):
                reason = marker.group(2).strip(" -#")
                if not reason:
                    bare.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert bare == []


def _pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line and not line.startswith("-"):
            name, _, version = line.partition("==")
            pins[name.lower()] = version
    return pins


def test_pyproject_dependencies_are_the_pins_of_requirements_txt():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = _pins("\n".join(project["dependencies"]))
    assert declared == _pins((REPO / "requirements.txt").read_text())
    assert all(declared.values()), "every dependency is pinned with =="


def test_the_installable_packages_are_the_ones_in_the_tree():
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    included = {p.rstrip("*") for p in setuptools["packages"]["find"]["include"]}
    on_disk = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests", "bench"}
    assert included == on_disk


def test_the_client_never_imports_the_server():
    for path in sorted((REPO / "client").rglob("*.py")) + sorted((REPO / "reporting").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n == "app" or n.startswith("app.") for n in names), f"{path.name} imports {names}"


def test_bench_imports_nothing_from_tests():
    for path in sorted((REPO / "bench").rglob("*.py")):
        assert not re.search(r"^\s*(from|import) tests\b", path.read_text(), re.MULTILINE), path.name
