"""The import contracts of ``pyproject.toml`` ([tool.importlinter]) hold, checked by import-linter.

Lorien's subpackages live in top-level folders (``dialects/`` is ``lorien.dialects``), and
import-linter reads a package from one folder tree, so the test assembles the tree the installed
package has (the ``[tool.setuptools]`` mapping, Python files only) and runs ``lint-imports`` on it.
The same check by hand: ``python -m tests.test_layers``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def assemble_package(dest: Path, root: Path = ROOT) -> Path:
    """Copy the Python files of every package ``pyproject.toml`` lists into ``dest`` as they are
    laid out once installed; returns ``dest``."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders: dict[str, str] = setuptools["package-dir"]
    for package in setuptools["packages"]:
        mapped = max((name for name in folders if package == name or package.startswith(name + ".")),
                     key=len)
        source = root / folders[mapped] / Path(*package.split(".")[len(mapped.split(".")):])
        target = dest / Path(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for module in source.glob("*.py"):
            shutil.copy2(module, target / module.name)
    return dest


def lint_imports(tree: Path, config: Path = ROOT / "pyproject.toml") -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the assembled ``tree`` (nothing else of Lorien's on its path)."""
    command = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
               "sys.argv[0] = 'lint-imports'; lint_imports_command()", str(config), "--no-cache"]
    return subprocess.run(command, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return assemble_package(tmp_path_factory.mktemp("layers"))


def test_the_import_contracts_hold(tree: Path) -> None:
    result = lint_imports(tree)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " 0 broken" in result.stdout


def test_the_tree_holds_every_module(tree: Path) -> None:
    installed = {p.relative_to(tree).as_posix() for p in tree.rglob("*.py")}
    for module in ("lorien/records.py", "lorien/dialects/base.py", "lorien/serving/provider.py",
                   "lorien/cli/main.py", "lorien/dialects/tvm/dialect.py"):
        assert module in installed


@pytest.mark.parametrize(("module", "line"), [
    ("lorien/records.py", "import lorien.store.sqlite"),       # the core reaching up its own layers
    ("lorien/dialects/base.py", "import lorien.tuner.worker"),  # a dialect importing the tuner
    ("lorien/serving/provider.py", "import lorien.datasets.zoo"),  # the service importing the data set
    ("lorien/store/sqlite.py", "import lorien.queue.sqlite"),  # the store and the queue kept apart
])
def test_a_broken_contract_fails_the_check(tmp_path: Path, module: str, line: str) -> None:
    broken = assemble_package(tmp_path / "tree")
    path = broken / module
    path.write_text(path.read_text() + f"\n{line}  # noqa\n")
    result = lint_imports(broken)
    assert result.returncode != 0, result.stdout
    assert " 0 broken" not in result.stdout and "BROKEN" in result.stdout


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        completed = lint_imports(assemble_package(Path(folder)))
    print(completed.stdout + completed.stderr, end="")
    sys.exit(completed.returncode)
