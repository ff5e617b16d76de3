"""The fault panel: one row per rule, each with a switch, a code picker, its message and a
fired counter. The board is the truth: rows write to it and are redrawn from it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Label, Select, Switch

from ..faults import PICKER_CODES, POINTS, FaultBoard, Rule, default_message

# Points that always have a row, armed or not, reachable with a quick key.
QUICK_POINTS = {"upload": "u", "download": "d"}

CODE_MEANINGS = {
    425: "can't open data connection",
    426: "transfer aborted",
    450: "file unavailable",
    451: "local error",
    452: "insufficient storage",
}


def code_options(extra: int | None = None) -> list[tuple[str, int]]:
    codes = list(PICKER_CODES)
    if extra is not None and extra not in codes:
        codes.append(extra)
    return [(f"{c} {CODE_MEANINGS.get(c, default_message(c))}", c) for c in codes]


class FaultRow(Horizontal, can_focus=False):
    """A fault point's row. ``rule_id`` is empty until the row is first armed."""

    def __init__(self, point: str, rule_id: str = "") -> None:
        super().__init__(classes="fault-row")
        self.point = point
        self.rule_id = rule_id
        self.pending_code = POINTS[point].default_code  # the code it will arm with

    def compose(self) -> ComposeResult:
        key = QUICK_POINTS.get(self.point)
        yield Label(f"[b]{key}[/b] " if key else "  ", classes="key")
        yield Label(self.point, classes="point")
        yield Switch(value=False)
        yield Label("off", classes="state")
        yield Select(
            code_options(), value=POINTS[self.point].default_code, allow_blank=False,
            type_to_search=False, compact=True, classes="code",
        )
        yield Label(default_message(POINTS[self.point].default_code), classes="message")
        yield Label("fired 0", classes="fired")

    def show(self, rule: Rule | None, fired: int) -> None:
        """Draw the rule's state; no Changed messages escape (they would write back)."""
        code = rule.code if rule else self.pending_code
        select = self.query_one(Select)
        switch = self.query_one(Switch)
        with self.prevent(Switch.Changed, Select.Changed):
            if code not in PICKER_CODES:
                select.set_options(code_options(code))
            if select.value != code:
                select.value = code
            switch.value = bool(rule and rule.enabled)
        self.query_one(".message", Label).update(rule.text if rule else default_message(code))
        self.query_one(".fired", Label).update(f"fired {fired}")
        armed = bool(rule and rule.enabled)
        self.query_one(".state", Label).update("ARMED" if armed else "off")
        self.set_class(armed, "-armed")


class FaultPanel(Vertical):
    """Rows for every rule on the board, plus an unarmed row for each quick point."""

    def __init__(self, board: FaultBoard, **kwargs) -> None:
        super().__init__(**kwargs)
        self.board = board
        self.border_title = "Faults"
        self.board_version = -1

    def compose(self) -> ComposeResult:
        for point in QUICK_POINTS:
            yield FaultRow(point)

    # --- board -> screen

    def sync(self, force: bool = False) -> None:
        """Redraw from the board when it changed since the last call."""
        version = self.board.version
        if version == self.board_version and not force:
            return
        self.board_version = version
        rules = self.board.rules()
        rows = list(self.query(FaultRow))
        by_rule = {row.rule_id: row for row in rows if row.rule_id}
        live = {rule.id for rule in rules}
        for row in rows:  # rules removed elsewhere: back to an unarmed row, or gone
            if row.rule_id and row.rule_id not in live:
                row.rule_id = ""
        for rule in rules:
            row = by_rule.get(rule.id)
            if row is None:
                row = next((r for r in self.query(FaultRow) if r.point == rule.point and not r.rule_id), None)
                if row is None:
                    row = FaultRow(rule.point, rule.id)
                    self.mount(row)
                row.rule_id = rule.id
        seen_points = set()
        for row in list(self.query(FaultRow)):
            if row.rule_id:
                rule = self.board.get(row.rule_id)
                row.show(rule, self.board.fired(rule.id))
                seen_points.add(row.point)
            elif row.point in QUICK_POINTS and row.point not in seen_points:
                row.show(None, 0)
                seen_points.add(row.point)
            else:
                row.remove()

    # --- screen -> board

    def row_for(self, point: str) -> FaultRow:
        return next(r for r in self.query(FaultRow) if r.point == point)

    def current_row(self) -> FaultRow | None:
        """The row holding focus, if any."""
        focused = self.screen.focused
        while focused is not None and not isinstance(focused, FaultRow):
            focused = focused.parent
        return focused

    def set_armed(self, row: FaultRow, armed: bool) -> None:
        if row.rule_id:
            self.board.update(row.rule_id, enabled=armed)
        elif armed:
            row.rule_id = self.board.add(Rule(point=row.point, code=row.pending_code)).id
        self.sync()

    def toggle(self, point: str) -> FaultRow:
        row = self.row_for(point)
        armed = bool(row.rule_id) and self.board.get(row.rule_id).enabled
        self.set_armed(row, not armed)
        row.query_one(Switch).focus()
        return row

    def set_code(self, row: FaultRow, code: int) -> None:
        row.pending_code = code
        if row.rule_id:
            # a custom message belongs to the old code; the new code gets its standard text
            self.board.update(row.rule_id, code=code, message=None)
        self.sync(force=True)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        row = next(a for a in event.switch.ancestors if isinstance(a, FaultRow))
        self.set_armed(row, event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        row = next(a for a in event.select.ancestors if isinstance(a, FaultRow))
        if isinstance(event.value, int):
            self.set_code(row, event.value)
