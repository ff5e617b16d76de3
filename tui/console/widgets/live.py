"""Live views fed from the event queue in batches: sessions, transfers and the log.

Each view takes a whole batch, folds it into the latest state per row and touches every
row once, so a flood of events costs one update per row per refresh, not one per event.
All three are bounded.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import DataTable, Log

from ...engine import events as ev
from ...engine.events import Event
from ...engine.logline import format_event, visible
from ...engine.sessions import SessionTracker

MAX_TRANSFERS = 200  # rows kept (up to EVICT_SLACK more between evictions)
EVICT_SLACK = 50  # evict in bulk: removing rows one by one rebuilds the table's index each time
MAX_LOG_LINES = 5000


def plain(value: str) -> Text:
    """Client text for a cell: shown as sent, never read as markup."""
    return Text(visible(value), end="")


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def progress_bar(done: int, size: int, width: int = 10) -> str:
    if size <= 0:
        return "100%" if size == 0 else ""
    frac = min(1.0, done / size)
    filled = int(frac * width)
    return "█" * filled + "░" * (width - filled) + f" {frac:4.0%}"


class SessionTable(DataTable):
    COLUMNS = ("#", "client", "user", "state", "command", "cwd")

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", show_cursor=False, **kwargs)
        self.border_title = "Sessions"
        self.tracker = SessionTracker()

    def on_mount(self) -> None:
        for name in self.COLUMNS:
            self.add_column(name, key=name)

    def apply(self, batch: Iterable[Event]) -> None:
        touched, forgotten = self.tracker.apply(batch)
        for sid in sorted(touched):
            session = self.tracker.sessions[sid]
            cells = {"#": str(sid), "client": plain(session.client), "user": plain(session.user),
                     "state": session.state, "command": plain(session.command),
                     "cwd": plain(session.cwd)}
            key = str(sid)
            if key in self.rows:
                for column, value in cells.items():
                    self.update_cell(key, column, value)
            else:
                self.add_row(*cells.values(), key=key)
        for sid in forgotten:
            if str(sid) in self.rows:
                self.remove_row(str(sid))


class TransferTable(DataTable):
    COLUMNS = ("#", "session", "dir", "file", "result", "bytes", "progress", "rate")

    def __init__(self, **kwargs) -> None:
        super().__init__(cursor_type="row", show_cursor=False, **kwargs)
        self.border_title = "Transfers"
        self.fired_rules: dict[int, str] = {}  # transfer id -> the rule that fired on it
        self.shown: OrderedDict[str, dict] = OrderedDict()  # row key -> cells, oldest first

    def on_mount(self) -> None:
        for name in self.COLUMNS:
            self.add_column(name, key=name)

    def apply(self, batch: Iterable[Event]) -> None:
        latest: dict[int, Event] = {}
        for event in batch:
            if event.kind in (ev.PROGRESS, ev.TRANSFER) and event.transfer:
                latest[event.transfer] = event
            elif event.kind == ev.FAULT and event.transfer:
                self.fired_rules[event.transfer] = event.rule
        for tid, event in latest.items():
            self.show_transfer(tid, event)
        if len(self.shown) > MAX_TRANSFERS + EVICT_SLACK:
            while len(self.shown) > MAX_TRANSFERS:
                self.shown.popitem(last=False)
            self.clear()
            for key, row in self.shown.items():
                self.add_row(*row.values(), key=key)
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def show_transfer(self, tid: int, event: Event) -> None:
        rate = event.bytes / event.elapsed if event.elapsed > 0 else 0
        progress = progress_bar(event.bytes, event.size) if event.direction == "download" else ""
        if event.kind == ev.TRANSFER:
            rule = self.fired_rules.pop(tid, "")
            if event.code == 226:
                result = Text("226", style="green")
            elif rule:
                result = Text(f"{event.code} ⚡ {rule}", style="bold red")
            else:
                result = Text(str(event.code or "no reply"), style="yellow")
        else:
            result = Text("…", style="dim")
        row = {
            "#": str(tid), "session": f"#{event.session}", "dir": event.direction,
            "file": plain(event.path), "result": result, "bytes": human_bytes(event.bytes),
            "progress": progress, "rate": f"{human_bytes(rate)}/s" if rate else "",
        }
        key = str(tid)
        if key in self.shown:
            for column, value in row.items():
                self.update_cell(key, column, value)
            self.shown[key] = row
        else:
            follow = self.is_vertical_scroll_end
            self.add_row(*row.values(), key=key)
            self.shown[key] = row
            if follow:  # tail the newest transfers unless the user scrolled up
                self.scroll_end(animate=False, immediate=True, x_axis=False)


class FaultHighlighter(Highlighter):
    """Fired faults stand out; other error replies are tinted."""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if " FAULT " in plain:
            text.stylize("bold white on dark_red")
        elif " ERROR " in plain:
            text.stylize("bold red")
        elif " -> 4" in plain or " -> 5" in plain:
            text.stylize("yellow")
        elif " <- " in plain:
            text.stylize("cyan")


class EventLog(Log):
    def __init__(self, **kwargs) -> None:
        super().__init__(highlight=True, max_lines=MAX_LOG_LINES, **kwargs)
        self.highlighter = FaultHighlighter()
        self.border_title = "Log"

    def apply(self, batch: Iterable[Event]) -> None:
        lines = [line for line in map(format_event, batch) if line]
        if lines:
            self.write_lines(lines)
