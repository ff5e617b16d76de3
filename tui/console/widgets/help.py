"""The ? screen: every key of the console (from the key table that feeds the footer), and
the fault grammar (from the tables that parse it)."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ...engine.points import PICKER_CODES, POINT_HELP, default_message
from ...engine.rules import SECTIONS
from ..keys import key_help


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help", id="close-help"),
    ]

    def compose(self) -> ComposeResult:
        keys = key_help()
        keys.append(("ctrl+p", "Command palette: the same actions by name"))
        codes = [(str(code), default_message(code)) for code in PICKER_CODES]
        body = VerticalScroll(id="help-body")
        body.border_title = "Help"
        body.border_subtitle = "Esc, ? or q closes this help."
        with body:
            yield Static("[b]Keys[/b]\n" + table(keys))
            yield Static("\n[b]Fault points[/b]  POINT[=CODE[:MESSAGE]][,OPTION...]\n" + table(POINT_HELP))
            for title, options in SECTIONS:
                yield Static(f"\n[b]{escape(title.capitalize())}[/b]\n"
                             + table([(o.title, o.help) for o in options]))
            yield Static("\n[b]Codes[/b]\n" + table(codes))


def table(rows) -> str:
    """Two aligned columns, the first in bold."""
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"  [b]{escape(name):<{width}}[/b]{escape(text)}" for name, text in rows)
