"""Add or edit a rule: one line in the fault grammar, checked as you type.

The point and code pickers write into that line, so the line stays the one truth and
what you see is exactly what the command line, a profile or the API would take.
"""

from __future__ import annotations

import re

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Select, Static

from ...engine.points import CMD_POINT_HELP, POINTS, STANDARD_MESSAGES, point_info
from ...engine.rules import SECTIONS, Rule, RuleError, parse_rule
from ...engine.settings import SETTINGS

GRAMMAR = "\n".join([
    "[b]POINT[=CODE[:MESSAGE]][,OPTION...][/b]   e.g. upload=451,times=1",
    f"[b]points[/b]   {' '.join([*POINTS, CMD_POINT_HELP[0]])}",
    *(f"[b]{title.split(' ')[0]:<8}[/b] {escape(' '.join(o.title for o in options))}"
      for title, options in SECTIONS),
    "[b]chaos[/b]    chaos=P: random faults at every fault point (k turns them off and on)",
])


def code_choices(point: str) -> list[tuple[str, int]]:
    """The code picker's choices: the standard codes the point takes (all, if unknown)."""
    try:
        codes = point_info(point).codes
    except RuleError:
        codes = tuple(STANDARD_MESSAGES)
    return [(f"{code} {STANDARD_MESSAGES[code]}", code) for code in codes]

_HEAD = re.compile(r"^(?P<point>[^=,]*)(?P<code>=[^,]*)?(?P<rest>.*)$", re.S)


def with_point(spec: str, point: str) -> str:
    m = _HEAD.match(spec.strip())
    return f"{point}{m['code'] or ''}{m['rest']}"


def with_code(spec: str, code: int) -> str:
    m = _HEAD.match(spec.strip())
    return f"{m['point'] or 'upload'}={code}{m['rest']}"


def describe(rule: Rule) -> str:
    """What the rule does, as markup with every part of the rule's own text escaped."""
    reply = f"{rule.reply!r}" if rule.reply else "no reply change"
    return escape(f"{rule.point}: {rule.describe_action()} — {rule.describe_trigger()}"
                  f"\nreply: {reply}")


CHAOS_LINE = re.compile(r"^\s*chaos\s*=\s*(?P<p>\S+)\s*$", re.I)


class RuleForm(ModalScreen[Rule | float | None]):
    """Gives a Rule, or chaos's probability for a line ``chaos=P``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-rule")]

    def __init__(self, rule: Rule | None = None) -> None:
        super().__init__()
        self.editing = rule
        self.parsed: Rule | None = None
        self.offered_codes = [code for _, code in code_choices(rule.point if rule else "upload")]

    def compose(self) -> ComposeResult:
        title = f"Edit rule {self.editing.id}" if self.editing else "Add a fault rule"
        with Vertical(id="rule-form") as form:
            form.border_title = title
            form.border_subtitle = "Enter saves · Esc cancels"
            with Horizontal(id="rule-pickers"):
                yield Select([(name, name) for name in POINTS], prompt="point", id="point-picker",
                             compact=True, type_to_search=False)
                yield Select(code_choices(self.editing.point if self.editing else "upload"),
                             prompt="code", id="code-picker", compact=True, type_to_search=False)
            yield Input(value=self.editing.spec if self.editing else "",
                        placeholder="upload=451,times=1", id="spec")
            yield Static(id="verdict")
            yield Static(GRAMMAR, id="grammar")
            with Horizontal(id="rule-buttons"):
                yield Button("Save", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#spec", Input).focus()
        self.check(self.query_one("#spec", Input).value)

    def check(self, text: str) -> None:
        verdict = self.query_one("#verdict", Static)
        chaos = CHAOS_LINE.match(text)
        try:
            if chaos:  # not a rule: chaos's probability
                self.parsed = SETTINGS["chaos"].kind.parse(chaos["p"])
                verdict.update(f"[b green]✓[/] chaos at {self.parsed:.0%}: each reply at a fault point "
                               "gets a random fault with that probability (k turns it off and on)")
                self.query_one("#save", Button).disabled = False
                return
            self.parsed = parse_rule(text)
        except ValueError as err:  # RuleError is a ValueError
            self.parsed = None
            verdict.update(f"[b red]✗[/] {escape(str(err))}" if text.strip() else "Type a rule, or pick a point.")
        else:
            verdict.update(f"[b green]✓[/] {describe(self.parsed)}")
        self.query_one("#save", Button).disabled = self.parsed is None
        self.show_in_pickers(text)

    def show_in_pickers(self, text: str) -> None:
        """The pickers say what the line says (typing is not picking: no Changed messages)."""
        head = _HEAD.match(text.strip())
        point = (head["point"] or "").strip().lower()
        code = (head["code"] or "=")[1:].split(":")[0].strip()
        with self.prevent(Select.Changed):
            codes = self.query_one("#code-picker", Select)
            try:  # the codes of the point typed (while it is no point yet: as they were)
                choices = code_choices(point) if point_info(point) else []
            except RuleError:
                choices = []
            if choices:
                self.offer_codes(choices)
            for picker, value, offered in (
                    (self.query_one("#point-picker", Select), point, POINTS),
                    (codes, int(code) if code.isdigit() else None, self.offered_codes)):
                wanted = value if value in offered else Select.NULL
                if picker.value != wanted:
                    picker.value = wanted

    def offer_codes(self, choices: list[tuple[str, int]]) -> None:
        """The code picker offers these (left alone when it already does: no flicker)."""
        if [code for _, code in choices] != self.offered_codes:
            self.query_one("#code-picker", Select).set_options(choices)
            self.offered_codes = [code for _, code in choices]

    def on_input_changed(self, event: Input.Changed) -> None:
        self.check(event.input.value)  # the line as it is now: a queued event may be stale

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value is Select.NULL:
            return
        spec = self.query_one("#spec", Input)
        if event.select.id == "point-picker":
            spec.value = with_point(spec.value, str(event.value))
            self.offer_codes(code_choices(str(event.value)))
            self.query_one("#code-picker", Select).focus()  # the next choice: its code
        else:
            spec.value = with_code(spec.value, int(event.value))
            spec.focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_save(self) -> None:
        if self.parsed is not None:
            self.dismiss(self.parsed)

    def action_cancel(self) -> None:
        self.dismiss(None)
