"""The ? screen: every key of the console, from the same bindings that feed the footer."""

from __future__ import annotations

from rich.table import Table
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
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold")
        keys.add_column()
        for binding in self.bindings:
            keys.add_row(binding.key_display or self.app.get_key_display(binding), binding.tooltip or binding.description)
        points = Table.grid(padding=(0, 2))
        points.add_column(style="bold")
        points.add_column()
        for point in POINTS.values():
            points.add_row(point.name, point.description)
        codes = Table.grid(padding=(0, 2))
        codes.add_column(style="bold")
        codes.add_column()
        for n, code in enumerate(PICKER_CODES, start=1):
            codes.add_row(f"{n} -> {code}", default_message(code))
        with VerticalScroll(id="help-body"):
            yield Static("[b]Keys[/b]")
            yield Static(keys)
            yield Static("\n[b]Fault points[/b]")
            yield Static(points)
            yield Static("\n[b]Codes (keys 1-5 set the focused row)[/b]")
            yield Static(codes)
            yield Static("\n[dim]Esc, ? or q closes this help.[/dim]")
