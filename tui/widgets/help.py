"""The ? screen: every key of the console, from the same bindings that feed the footer."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..faults import PICKER_CODES, POINTS, default_message


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help", id="close-help"),
    ]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        keys = "\n".join(
            f"  [b]{escape(b.key_display or self.app.get_key_display(b)):<8}[/b]{escape(b.tooltip or b.description)}"
            for b in self.bindings
        )
        points = "\n".join(f"  [b]{p.name:<10}[/b]{escape(p.description)}" for p in POINTS.values())
        codes = "\n".join(
            f"  [b]{n} -> {code}[/b]  {escape(default_message(code))}"
            for n, code in enumerate(PICKER_CODES, start=1)
        )
        with VerticalScroll(id="help-body"):
            yield Static(f"[b]Keys[/b]\n{keys}\n  [b]{'ctrl+p':<8}[/b]Command palette: the same actions by name")
            yield Static(f"\n[b]Fault points[/b]\n{points}")
            yield Static(f"\n[b]Codes (keys 1-5 set the focused row)[/b]\n{codes}")
            yield Static("\n[dim]Esc, ? or q closes this help.[/dim]")
