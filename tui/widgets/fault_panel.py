"""The fault panel: one row per rule, each with a switch, a code picker, its message and a
fired counter. The board is the truth: rows write to it and are redrawn from it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
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


class FaultRow(Horizontal):
    """A rule's row; an unarmed quick point's row has no ``rule_id`` until first armed."""

    def __init__(self, point: str, rule: Rule | None = None, fired: int = 0) -> None:
        super().__init__(classes="fault-row")
        self.point = point
        self.rule_id = rule.id if rule else ""
        self.pending_code = rule.code if rule else POINTS[point].default_code
        self.state: tuple[Rule | None, int] = (rule, fired)  # what the row should show

    @property
    def code(self) -> int:
        """The code this row shows (and will arm with)."""
        rule = self.state[0]
        return rule.code if rule else self.pending_code

    def compose(self) -> ComposeResult:
        key = QUICK_POINTS.get(self.point)
        yield Label(f"[b]{key}[/b] " if key else "  ", classes="key")
        yield Label(self.point, classes="point")
        yield Switch(value=False)
        yield Label("off", classes="state")
        yield Select(code_options(self.code), value=self.code, allow_blank=False,
                     type_to_search=False, compact=True)
        yield Label("", classes="message")
        yield Label("", classes="fired")

    def on_mount(self) -> None:
        self._draw()

    def show(self, rule: Rule | None, fired: int) -> None:
        self.state = (rule, fired)
        if self.is_mounted:  # else on_mount draws it, once the widgets exist
            self._draw()

    def _draw(self) -> None:
        rule, fired = self.state
        code = self.code
        armed = bool(rule and rule.enabled)
        select = self.query_one(Select)
        with self.prevent(Switch.Changed, Select.Changed):  # drawing is not user input
            if code not in PICKER_CODES:
                select.set_options(code_options(code))
            if select.value != code:
                select.value = code
            self.query_one(Switch).value = armed
        self.query_one(".state", Label).update("ARMED" if armed else "off")
        self.query_one(".message", Label).update(rule.text if rule else default_message(code))
        self.query_one(".fired", Label).update(f"fired {fired}")
        self.set_class(armed, "-armed")


class FaultPanel(Vertical):
    """Rows for every rule on the board, plus an unarmed row for each quick point."""

    def __init__(self, board: FaultBoard, **kwargs) -> None:
        super().__init__(**kwargs)
        self.board = board
        self.border_title = "Faults"
        self.board_version = -1

    def on_mount(self) -> None:
        self.sync()

    # --- board -> screen

    def sync(self) -> None:
        """Redraw from the board, if it changed since the last call."""
        version = self.board.version
        if version == self.board_version:
            return
        self.board_version = version
        rules = self.board.rules()
        live = {rule.id for rule in rules}
        rows = list(self.query(FaultRow))
        for row in rows:
            if row.rule_id and row.rule_id not in live:  # removed elsewhere
                row.rule_id = ""
        by_rule = {row.rule_id: row for row in rows if row.rule_id}
        placed = []
        for rule in rules:
            row = by_rule.get(rule.id) or next(
                (r for r in rows if r.point == rule.point and not r.rule_id), None)
            if row is None:
                row = FaultRow(rule.point, rule, self.board.fired(rule.id))
                self.mount(row)
                rows.append(row)
            row.rule_id = rule.id
            row.show(rule, self.board.fired(rule.id))
            placed.append(row)
        for point in QUICK_POINTS:  # a quick point keeps an (unarmed) row
            if not any(r.point == point for r in placed):
                row = next((r for r in rows if r.point == point and r not in placed), None)
                if row is None:
                    row = FaultRow(point)
                    self.mount(row)
                row.show(None, 0)
                placed.append(row)
        for row in rows:
            if row not in placed:
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
        else:
            row.show(None, 0)
        self.sync()

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        row = next(a for a in event.switch.ancestors if isinstance(a, FaultRow))
        armed = bool(row.rule_id) and self.board.get(row.rule_id).enabled
        if event.value == event.switch.value != armed:  # a stale or echoed message is not input
            self.set_armed(row, event.value)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        row = next(a for a in event.select.ancestors if isinstance(a, FaultRow))
        if isinstance(event.value, int) and event.value == event.select.value != row.code:
            self.set_code(row, event.value)
