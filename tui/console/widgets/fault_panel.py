"""The fault panel: one row per rule, each with a switch, a code picker, what it does and
when, and how often it fired. The board is the truth: the panel is redrawn from it when
its version changes (so a rule set from anywhere else shows up here too), and what the
user does to a row goes to the app as a message. A ``for=`` rule counts down its time
left, redrawn each second."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Select, Switch

from ...engine.board import FaultBoard, RuleStats
from ...engine.logline import visible
from ...engine.points import PICKER_CODES, default_message, point_info
from ...engine.rules import Rule
from ..keys import QUICK_KEYS
from ..messages import ArmRequested, CodeRequested

# Points that always have a row, armed or not, reachable with a quick key.
QUICK_POINTS = QUICK_KEYS

NORMAL_REPLY = 0  # the picker's value for a rule that keeps the normal reply

CODE_MEANINGS = {
    425: "can't open data connection",
    426: "transfer aborted",
    450: "file unavailable",
    451: "local error",
    452: "insufficient storage",
}


def code_options(code: int | None) -> list[tuple[str, int]]:
    codes = list(PICKER_CODES)
    if code is not None and code not in codes:
        codes.append(code)
    options = [(f"{c} {CODE_MEANINGS.get(c, default_message(c))}", c) for c in codes]
    if code is None:
        options.insert(0, ("normal reply", NORMAL_REPLY))
    return options


def summary(rule: Rule) -> str:
    """What a rule does and when, in one line."""
    parts = [rule.text] if rule.code is not None and rule.message else []
    action = rule.describe_action()
    if action != f"reply {rule.code}":
        parts.append(action)
    trigger = rule.describe_trigger()
    if trigger != "always":
        parts.append(trigger)
    return " · ".join(parts) or rule.text


class FaultRow(Horizontal):
    """A rule's row; an unarmed quick point's row has no ``rule_id`` until first armed."""

    def __init__(self, point: str, rule: Rule | None = None, stats: RuleStats | None = None) -> None:
        super().__init__(classes="fault-row")
        self.point = point
        self.rule_id = rule.id if rule else ""
        self.pending_code = point_info(point).default_code
        self.state: tuple[Rule | None, RuleStats] = (rule, stats or RuleStats())
        self.option_codes: tuple[int, ...] = ()  # the codes the picker offers now
        self.focus_when_mounted = False
        self.quick = ""  # its quick key, if it is the row that key acts on

    @property
    def rule(self) -> Rule | None:
        return self.state[0]

    @property
    def code(self) -> int:
        """The code the picker shows (and an unarmed row will arm with)."""
        rule = self.rule
        if rule is None:
            return self.pending_code
        return NORMAL_REPLY if rule.code is None else rule.code

    def compose(self) -> ComposeResult:
        yield Label("", classes="key")
        yield Label("", classes="id")
        yield Label("", classes="point", markup=False)
        yield Switch(value=False)
        yield Label("off", classes="state")
        options = code_options(self.rule.code if self.rule else self.pending_code)
        self.option_codes = tuple(code for _, code in options)
        yield Select(options, value=self.code, allow_blank=False, type_to_search=False, compact=True)
        yield Label("", classes="summary")
        yield Label("", classes="count")

    def on_mount(self) -> None:
        self._draw()
        if self.focus_when_mounted:
            self.query_one(Switch).focus()

    def show(self, rule: Rule | None, stats: RuleStats) -> None:
        self.state = (rule, stats)
        if self.is_mounted:  # else on_mount draws it, once the widgets exist
            self._draw()

    def _draw(self) -> None:
        rule, stats = self.state
        armed = bool(rule and rule.enabled)
        spent = bool(rule and not rule.enabled and stats.exhausted)
        select = self.query_one(Select)
        with self.prevent(Switch.Changed, Select.Changed):  # drawing is not user input
            options = code_options(rule.code if rule else self.pending_code)
            codes = tuple(code for _, code in options)
            if codes != self.option_codes:
                select.set_options(options)
                self.option_codes = codes
            if select.value != self.code:
                select.value = self.code
            self.query_one(Switch).value = armed
        select.disabled = bool(rule and (rule.stall or rule.reset))  # they send no reply
        self.query_one(".key", Label).update(Text(self.quick, style="bold"))
        self.query_one(".id", Label).update(rule.id if rule else "")
        self.query_one(".point", Label).update(self.point)
        self.query_one(".state", Label).update("ARMED" if armed else "spent" if spent else "off")
        if rule is None:
            text = f"no rule yet: {self.quick or 'Space'} arms one with {self.pending_code}"
        else:
            text = summary(rule)
        self.query_one(".summary", Label).update(Text(visible(text)))  # free text: no markup
        count = f"fired {stats.fired}"
        if stats.remaining is not None:
            count += f" · left {stats.remaining}"
        if stats.expires_in and rule is not None and rule.enabled:
            count += f" · {math.ceil(stats.expires_in)} s left"
        self.query_one(".count", Label).update(count)
        self.set_class(armed, "-armed")
        self.set_class(spent, "-spent")
        self.set_class(rule is None, "-placeholder")


class FaultPanel(Vertical):
    """Rows for every rule on the board, plus an unarmed row for each quick point."""

    BINDINGS = [
        Binding("up", "move(-1)", "Previous rule", show=False),
        Binding("down", "move(1)", "Next rule", show=False),
    ]

    def __init__(self, board: FaultBoard, **kwargs) -> None:
        super().__init__(**kwargs)
        self.board = board
        self.border_title = "Faults"
        self.board_version = -1
        self.countdown: tuple[int, ...] = ()  # the seconds left of each for= rule, as drawn

    def on_mount(self) -> None:
        self.sync()

    # --- board -> screen

    def sync(self) -> None:
        """Redraw from the board, if it changed since the last call (or a countdown did)."""
        version = self.board.version
        if version == self.board_version and not self.countdown:  # (the refresh timer's case)
            return
        rules = self.board.rules()
        countdown = tuple(math.ceil(self.board.stats(r.id).expires_in or 0)
                          for r in rules if r.duration is not None and r.enabled)
        if version == self.board_version and countdown == self.countdown:
            return
        self.board_version, self.countdown = version, countdown
        live = {rule.id for rule in rules}
        rows = list(self.query(FaultRow))
        for row in rows:
            if row.rule_id and row.rule_id not in live:  # removed elsewhere
                row.rule_id = ""
        by_rule = {row.rule_id: row for row in rows if row.rule_id}
        placed = []
        for rule in rules:
            stats = self.board.stats(rule.id)
            row = by_rule.get(rule.id) or next(
                (r for r in rows if r.point == rule.point and not r.rule_id and r not in placed), None)
            if row is None:
                row = FaultRow(rule.point, rule, stats)
                self.mount(row)
                rows.append(row)
            row.rule_id = rule.id
            row.point = rule.point  # (an edit may move a rule to another point)
            placed.append(row)
            row.state = (rule, stats)
        for point in QUICK_POINTS:  # a quick point keeps an (unarmed) row
            if not any(r.point == point for r in placed):
                row = next((r for r in rows if r.point == point and r not in placed), None)
                if row is None:
                    row = FaultRow(point)
                    self.mount(row, before=0 if point == "upload" else None)
                row.state = (None, RuleStats())
                placed.append(row)
        for row in rows:
            if row not in placed:
                row.remove()
        keyed = set()
        for row in self.rows():  # each quick key on the first row of its point: the one it acts on
            key = QUICK_POINTS.get(row.point, "")
            row.quick = key if key and row.point not in keyed else ""
            keyed.add(row.point)
        for row in placed:
            row.show(*row.state)

    # --- finding rows

    def rows(self) -> list[FaultRow]:
        return list(self.query(FaultRow))

    def row_for(self, point: str) -> FaultRow:
        """The row a quick key acts on: the first of its point."""
        return next(r for r in self.query(FaultRow) if r.point == point)

    def current_row(self) -> FaultRow | None:
        """The row holding focus, if any."""
        focused = self.screen.focused
        while focused is not None and not isinstance(focused, FaultRow):
            focused = focused.parent
        return focused

    def focus_row(self, row: FaultRow) -> None:
        if row.is_mounted:
            row.query_one(Switch).focus()
        else:  # a row just added: its widgets do not exist yet
            row.focus_when_mounted = True

    def action_move(self, step: int) -> None:
        rows = self.rows()
        current = self.current_row()
        if rows and current in rows:
            self.focus_row(rows[(rows.index(current) + step) % len(rows)])

    # --- user input becomes a request to the app

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        row = next(a for a in event.switch.ancestors if isinstance(a, FaultRow))
        armed = bool(row.rule and row.rule.enabled)
        if event.value == event.switch.value != armed:  # a stale or echoed message is not input
            self.post_message(ArmRequested(row, event.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        row = next(a for a in event.select.ancestors if isinstance(a, FaultRow))
        if isinstance(event.value, int) and event.value == event.select.value != row.code:
            self.post_message(CodeRequested(row, event.value))
