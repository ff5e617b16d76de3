"""The README stays true: its tables list every key of the console and every setting, and
its commands are the ones the project runs."""

from __future__ import annotations

import re
from pathlib import Path

from tui.console.keys import KEYS
from tui.engine.settings import SETTINGS

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
CI = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")


def section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def test_the_keys_table_has_every_key():
    table = section("The console")
    for key in KEYS:
        shown = "1`..`5" if key.group else key.display
        assert f"`{shown}`" in table, key


def test_the_options_table_has_every_setting():
    table = section("Options")
    for info in SETTINGS.values():
        assert f"`{info.flag}`" in table, info.flag


def test_ci_runs_the_readmes_test_command():
    command = re.search(r"## Install and test\n\n```sh\n(.+)\n```", README).group(1)
    assert command in CI
