"""The engine must be usable without the console: importing it never pulls in Textual."""

import subprocess
import sys

ENGINE_MODULES = [
    "tui.faults", "tui.events", "tui.settings", "tui.handlers", "tui.server", "tui.sessions",
    "tui.control", "tui.ctl", "tui.profiles", "tui.journal", "tui.tls", "tui.testing", "tui.cli",
]


def test_engine_imports_without_textual():
    # Textual made unimportable: any engine import of it fails loudly.
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'textual' or name.startswith('textual.'):\n"
        "            raise ImportError('engine imported ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for m in {ENGINE_MODULES!r}:\n"
        "    __import__(m)\n"
        "assert not any(n.split('.')[0] == 'textual' for n in sys.modules), 'textual loaded'\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_console_does_import_textual():
    """The same guard catches a real import (so the test above can fail)."""
    code = (
        "import sys\n"
        "import tui.app\n"
        "assert 'textual' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
