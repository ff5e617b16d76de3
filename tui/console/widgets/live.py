"""The live tables: who is connected, what is moving, and what each client did after a fault.

Sessions and Transfers take a whole batch of events at a time, fold it into the latest
state per row and touch each row once (cell by cell), so a flood of events costs one
update per row per refresh, not one per event. The Report table shows the client report's
accounts, newest first.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...engine import events as ev
from ...engine.events import Event
from ...engine.logline import human_bytes
from ...engine.report import Account
from ...engine.sessions import SessionTracker
from .tables import Cell, Column, FitTable, plain

OUTCOME_STYLES = {"recovered": "green", "accepted": "yellow", "not-recovered": "bold red",
                  "pending": "dim"}
REACTION_STYLES = {"gave-up": "red", "waiting": "dim", "verified": "yellow", "moved-on": "yellow"}


class SessionTable(FitTable):
    COLUMNS = (
        Column("#", "#", 3, 0),
        Column("state", "state", 11, 0),
        Column("user", "user", 8, 1),
        Column("command", "command", 8, 2, grow=2),
        Column("cwd", "cwd", 6, 3, grow=1, middle=True),
        Column("client", "client", 15, 4, middle=True),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__("Sessions", **kwargs)
        self.tracker = SessionTracker()

    def apply(self, batch: Iterable[Event]) -> None:
        touched, forgotten = self.tracker.apply(batch)
        for sid in sorted(touched):
            session = self.tracker.sessions[sid]
            self.put(str(sid), {
                "#": (str(sid), ""), "client": plain(session.client), "user": plain(session.user),
                "state": (session.state, "dim" if session.state == "closed" else ""),
                "command": plain(session.command), "cwd": plain(session.cwd)})
        if forgotten:
            self.drop(str(sid) for sid in forgotten)

    def session_at_cursor(self) -> int | None:
        key = self.selected_key()
        return int(key) if key else None


class TransferTable(FitTable):
    COLUMNS = (
        Column("result", "result", 9, 0),
        Column("file", "file", 12, 0, grow=1, want=44, middle=True),
        Column("bytes", "bytes", 10, 1),
        Column("done", "%", 4, 2),  # after the file has the room it wants
        Column("dir", "dir", 8, 2),
        Column("rate", "rate", 12, 3),
        Column("session", "#", 4, 4),
    )

    def __init__(self, **kwargs) -> None:
        super().__init__("Transfers", **kwargs)
        self.rules: dict[int, tuple[str, bool]] = {}  # transfer id -> (the rule that acted, shaping)
        self.sessions: dict[str, int] = {}  # row key -> session

    def apply(self, batch: Iterable[Event]) -> None:
        latest: dict[int, Event] = {}
        for event in batch:
            if event.kind in (ev.PROGRESS, ev.TRANSFER) and event.transfer:
                shown = latest.get(event.transfer)
                if shown is None or shown.kind != ev.TRANSFER:  # a transfer's end stays its end
                    latest[event.transfer] = event
            elif event.kind == ev.FAULT and event.transfer:
                if self.rules.get(event.transfer, ("", True))[1]:  # a shaping rule never hides a deciding one
                    self.rules[event.transfer] = (event.rule, event.shaping)
        for tid, event in latest.items():
            self.show(tid, event)

    def show(self, tid: int, event: Event) -> None:
        rate = event.bytes / event.elapsed if event.elapsed > 0 else 0
        rule, shaping = self.rules.get(tid, ("", False))
        if event.kind == ev.TRANSFER:
            self.rules.pop(tid, None)
            if event.code == 226:
                result: Cell = (f"226 ~ {rule}" if rule else "226", "green")
            elif rule and not shaping:
                result = (f"{event.code or 'none'} ⚡ {rule}", "bold red")
            else:
                result = (str(event.code or "no reply"), "yellow")
        else:
            result = (f"… ~ {rule}" if rule else "…", "magenta" if rule else "dim")
        total = event.size if event.direction == "download" else -1
        done = ""
        if total > 0:
            done = f"{min(100, event.bytes * 100 // total)}%"
        elif total == 0 and event.kind == ev.TRANSFER:
            done = "100%"
        key = str(tid)
        self.sessions[key] = event.session
        self.put(key, {
            "result": result, "file": plain(event.path), "bytes": (human_bytes(event.bytes), ""),
            "done": (done, ""), "dir": (event.direction, ""),
            "rate": (f"{human_bytes(rate)}/s" if rate else "", ""), "session": (f"#{event.session}", "")})

    def session_at_cursor(self) -> int | None:
        key = self.selected_key()
        return self.sessions.get(key) if key else None


class ReportTable(FitTable):
    """The client report: one row per fault, newest at the top."""

    COLUMNS = (
        Column("reaction", "reaction", 11, 0),
        Column("outcome", "outcome", 13, 0),
        Column("fault", "fault", 16, 0, grow=1, want=40, middle=True),
        Column("attempts", "tries", 5, 1),
        Column("session", "#", 4, 2),
        Column("rule", "rule", 5, 3),
    )
    MAX_ROWS = 500
    NEWEST_FIRST = True

    def __init__(self, **kwargs) -> None:
        super().__init__("Client report", **kwargs)
        self.following = False  # the newest is on top: the cursor stays where the user put it
        self.accounts: dict[str, Account] = {}

    def show_report(self, accounts: Iterable[Account]) -> None:
        """The accounts as they stand; changed rows are redrawn, new ones go on top."""
        accounts = list(accounts)[-self.MAX_ROWS:]
        new = [a for a in accounts if str(a.seq) not in self.cells]
        for account in accounts:
            self.accounts[str(account.seq)] = account
            if str(account.seq) in self.cells:
                self.put(str(account.seq), self.cells_of(account))
        if new:
            selected = self.selected_key()
            rows = {str(a.seq): self.cells_of(a) for a in reversed(new)}
            rows.update(self.cells)
            self.cells.clear()
            self.cells.update(rows)
            self.redraw()
            self.restore(selected)

    @staticmethod
    def cells_of(account: Account) -> dict[str, Cell]:
        code = account.code if account.code is not None else account.action
        return {
            "reaction": (account.reaction, REACTION_STYLES.get(account.reaction, "")),
            "outcome": (account.outcome, OUTCOME_STYLES.get(account.outcome, "")),
            "fault": plain(f"{account.fault} → {code}"),
            "attempts": (str(account.attempts), ""), "session": (f"#{account.session}", ""),
            "rule": (account.rule, "")}

    def account_at_cursor(self) -> Account | None:
        key = self.selected_key()
        return self.accounts.get(key) if key else None

    def session_at_cursor(self) -> int | None:
        account = self.account_at_cursor()
        return account.session if account else None
