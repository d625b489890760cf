"""The package type-checks: mypy with ``[tool.mypy]`` of ``pyproject.toml`` on the package tree as
installed (assembled as for the import contracts: ``tests/test_layers.py``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_layers import ROOT, assemble_package

pytestmark = pytest.mark.slow  # mypy on the whole package, a minute on two cores


def mypy(tree: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"),
               "--cache-dir", str(cache), "-p", "lorien"]
    return subprocess.run(command, cwd=tree, env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy-cache")


def test_the_package_type_checks(tmp_path: Path, cache: Path) -> None:
    result = mypy(assemble_package(tmp_path / "tree"), cache)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_a_type_error_fails_the_check(tmp_path: Path, cache: Path) -> None:
    tree = assemble_package(tmp_path / "tree")
    jobs = tree / "lorien" / "cli" / "jobs.py"
    jobs.write_text(jobs.read_text() + "\n\ndef _broken() -> int:\n    return 'not an int'\n")
    result = mypy(tree, cache)
    assert result.returncode != 0 and "lorien/cli/jobs.py" in result.stdout, result.stdout
