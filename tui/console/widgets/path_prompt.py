"""One-line prompts: a text (the log's search), a file path (profiles, transcripts), and a
yes/no question (overwrite a file?)."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPrompt(ModalScreen[str | None]):
    """Enter gives the text (stripped), Esc None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-prompt")]

    def __init__(self, title: str, default: str = "", hint: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.hint = hint
        self.placeholder = placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="path-prompt") as box:
            box.border_title = self.title_text
            box.border_subtitle = "Enter confirms · Esc cancels"
            yield Input(value=self.default, placeholder=self.placeholder, id="path")
            if self.hint:
                yield Static(self.hint, id="path-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(self.result(event.value.strip()))

    def result(self, text: str):
        return text

    def action_cancel(self) -> None:
        self.dismiss(None)


class PathPrompt(TextPrompt):
    """Enter gives the path (``~`` expanded), or None when empty."""

    def __init__(self, title: str, default: str, hint: str = "") -> None:
        super().__init__(title, default, hint, placeholder="profile.toml")

    def result(self, text: str):
        return Path(text).expanduser() if text else None


class ConfirmPrompt(ModalScreen[bool]):
    """y (or Enter) says yes, n or Esc no."""

    BINDINGS = [
        Binding("y,enter", "answer(True)", "Yes", id="confirm-yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm-no"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="path-prompt") as box:
            box.border_title = "Confirm"
            box.border_subtitle = "y yes · n no"
            yield Static(self.question, markup=False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
