"""The layers hold: the engine runs without the console, and nothing below the command line
imports it. Checked twice: by import-linter's contracts (pyproject.toml), and at run time
by importing every engine module with Textual made unimportable."""

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import tui.engine

ROOT = Path(__file__).resolve().parents[2]  # the repository: tests/engine/ is two below
ENGINE_MODULES = sorted(m.name for m in pkgutil.walk_packages(tui.engine.__path__, "tui.engine."))
PYTHON_API = ["tui.testing", "tui.pytest_plugin"]

BLOCK_TEXTUAL = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'textual' or name.startswith('textual.'):\n"
    "            raise ImportError('imported ' + name)\n"
    "sys.meta_path.insert(0, Block())\n"
)


def lint_imports(config: Path) -> subprocess.CompletedProcess:
    tool = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert tool, "import-linter is a test dependency"
    return subprocess.run([tool, "--config", str(config), "--no-cache"], capture_output=True,
                          text=True, cwd=ROOT)


def test_the_import_contracts_hold():
    result = lint_imports(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_a_broken_contract_is_caught(tmp_path):
    """The same tool on a contract the code breaks on purpose (the console does import
    Textual): it must say so, or the test above proves nothing."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        '[tool.importlinter]\nroot_package = "tui"\ninclude_external_packages = true\n'
        '[[tool.importlinter.contracts]]\nname = "deliberately broken"\ntype = "forbidden"\n'
        'source_modules = ["tui.console"]\nforbidden_modules = ["textual"]\n')
    result = lint_imports(config)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout


def test_engine_and_python_api_import_without_textual():
    assert "tui.engine.server" in ENGINE_MODULES and "tui.engine.ftp.data" in ENGINE_MODULES
    code = BLOCK_TEXTUAL + (
        f"for m in {ENGINE_MODULES + PYTHON_API!r}:\n"
        "    __import__(m)\n"
        "assert not any(n.split('.')[0] == 'textual' for n in sys.modules), 'textual loaded'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_the_runtime_guard_catches_a_real_import():
    """The same guard stops the console, which does import Textual."""
    code = BLOCK_TEXTUAL + "import tui.console.app\n"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode != 0
    assert "imported textual" in result.stderr
