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
        lines, grouped = [], set()
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
            lines.append(f"  [b]{escape(key):<7}[/b]{escape(text)}")
        lines.append(f"  [b]{'ctrl+p':<7}[/b]Command palette: the same actions by name")
        points = "\n".join(f"  [b]{p.name:<9}[/b]{escape(p.description)}" for p in POINTS.values())
        codes = "\n".join(f"  [b]{code}[/b]  {escape(default_message(code))}" for code in PICKER_CODES)
        body = VerticalScroll(id="help-body")
        body.border_title = "Help"
        body.border_subtitle = "Esc, ? or q closes this help."
        with body:
            yield Static("[b]Keys[/b]\n" + "\n".join(lines))
            yield Static(f"\n[b]Fault points[/b]\n{points}")
            yield Static(f"\n[b]Codes[/b]\n{codes}")
