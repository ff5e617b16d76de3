"""The README screenshot is made by driving the real console: the generator must keep working."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository: tests/console/ is two below
GENERATOR = REPO / "screenshots" / "generate.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("screenshot_generator", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_generator_draws_the_console_mid_session(tmp_path):
    out = await load_generator().make_console_screenshot(tmp_path / "console.svg")
    svg = out.read_text()
    assert svg.startswith("<svg")
    text = svg.replace("&#160;", " ")
    for seen in ("ARMED", "⚡", "451", "426", "/dataset.csv", "Upload", "Client report",
                 "retried", "resumed", "recovered"):
        assert seen in text, seen


def test_readme_shows_the_generated_screenshot():
    readme = (REPO / "README.md").read_text()
    assert "](screenshots/console.svg)" in readme
    assert (GENERATOR.parent / "console.svg").exists()
