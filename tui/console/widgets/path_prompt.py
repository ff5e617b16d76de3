"""A one-line prompt for a file path (saving and loading profiles)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class PathPrompt(ModalScreen[Path | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-path")]

    def __init__(self, title: str, default: str, hint: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(id="path-prompt") as box:
            box.border_title = self.title_text
            box.border_subtitle = "Enter confirms · Esc cancels"
            yield Input(value=self.default, placeholder="profile.toml", id="path")
            if self.hint:
                yield Static(self.hint, id="path-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        self.dismiss(Path(text).expanduser() if text else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
