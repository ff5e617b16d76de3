"""The ? screen: every key of the console, from the same bindings that feed the footer."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from ..faults import ACTION_HELP, CMD_POINT_HELP, PICKER_CODES, POINTS, TRIGGER_HELP, default_message


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close help", id="close-help"),
    ]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__()
        self.bindings = bindings

    def compose(self) -> ComposeResult:
        keys, grouped = [], set()
        for binding in self.bindings:
            if binding.group is not None:  # 1-5: one line for the group
                if binding.group in grouped:
                    continue
                grouped.add(binding.group)
                members = [b for b in self.bindings if b.group == binding.group]
                key = f"{members[0].key}-{members[-1].key}"
                text = f"{binding.group.description} of the focused fault " + " ".join(
                    f"{b.key}={b.description}" for b in members)
            else:
                key = binding.key_display or self.app.get_key_display(binding)
                text = binding.tooltip or binding.description
            keys.append((key, text))
        keys.append(("ctrl+p", "Command palette: the same actions by name"))
        points = [*((p.name, p.description) for p in POINTS.values()), CMD_POINT_HELP]
        codes = [(str(code), default_message(code)) for code in PICKER_CODES]
        body = VerticalScroll(id="help-body")
        body.border_title = "Help"
        body.border_subtitle = "Esc, ? or q closes this help."
        with body:
            yield Static("[b]Keys[/b]\n" + table(keys))
            yield Static("\n[b]Fault points[/b]  POINT[=CODE[:MESSAGE]][,OPTION...]\n" + table(points))
            yield Static("\n[b]Actions[/b]\n" + table(ACTION_HELP))
            yield Static("\n[b]Triggers[/b] (all must hold)\n" + table(TRIGGER_HELP))
            yield Static("\n[b]Codes[/b]\n" + table(codes))


def table(rows) -> str:
    """Two aligned columns, the first in bold."""
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"  [b]{escape(name):<{width}}[/b]{escape(text)}" for name, text in rows)
