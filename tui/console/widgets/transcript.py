"""One session's whole exchange on a screen of its own.

Every command and reply in order (multi-line replies whole), each transfer with its bytes,
rate and result, each fault with its rule, times from the session's start; then what the
client report says the client did about each fault. Lines wrap to the screen (nothing is
cut) and are drawn lazily by a Log, so a long session stays fast; ``w`` writes the
transcript to a file.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from ...engine import events as ev
from ...engine.events import Event
from ...engine.logline import clock, describe, visible
from ...engine.report import Account, account_line
from .event_log import LogHighlighter
from .path_prompt import ConfirmPrompt, PathPrompt

INDENT = " " * 13  # under the text of a line, past its time (" +12.345 s  ")
MAX_LINES = 20_000


def event_lines(events: Iterable[Event], start: float) -> list[str]:
    """A session's events as text lines (unwrapped), timed from ``start``."""
    lines: list[str] = []
    for event in events:
        text = describe(event)
        if text is None:
            continue
        stamp = f"{f'+{event.time - start:.3f}':>9} s"
        if event.kind == ev.REPLY:
            lines += [visible(f"{stamp}  -> {line}") for line in event.lines]
        lines.append(visible(f"{stamp}  {text}"))
    return lines


def report_lines(session: int, accounts: Iterable[Account]) -> list[str]:
    accounts = [a for a in accounts if a.session == session]
    if not accounts:
        return ["No fault fired in this session."]
    lines = ["What the client did after each fault (client report):"]
    for account in accounts:
        lines += [visible(f"  {account_line(account)}"), visible(f"      {account.sentence}")]
    return lines


class TranscriptScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Back", id="close-transcript"),
        Binding("w", "write", "Write to a file", id="write-transcript"),
    ]

    def __init__(self, session: int, header: str, events: list[Event], accounts: list[Account]) -> None:
        super().__init__()
        self.session = session
        self.header = header
        self.start = events[0].time if events else 0.0
        self.lines = event_lines(events, self.start)
        self.accounts = accounts
        self.width = 0  # what the lines are wrapped to

    def compose(self) -> ComposeResult:
        yield Static(self.header, id="transcript-header", markup=False)
        view = Log(id="transcript", highlight=True, max_lines=MAX_LINES)  # follows while at the end
        view.highlighter = LogHighlighter()
        yield view
        yield Static(id="transcript-report", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#transcript", Log).focus()
        self.show_report()

    def on_resize(self) -> None:
        view = self.query_one("#transcript", Log)
        width = max(20, view.size.width - 2)
        if width != self.width:
            self.width = width
            view.clear()
            self.write(self.lines)

    def write(self, lines: list[str]) -> None:
        """Wrapped, so a long path or reply is read whole."""
        wrapped = []
        for line in lines:
            wrapped += textwrap.wrap(line, self.width or 80, subsequent_indent=INDENT,
                                     drop_whitespace=False) or [""]
        self.query_one("#transcript", Log).write_lines(wrapped)

    def add(self, events: list[Event], accounts: list[Account]) -> None:
        """Live: more of this session, and the report as it stands."""
        new = event_lines([e for e in events if e.session == self.session], self.start)
        if new:
            self.lines += new
            self.write(new)
        if accounts != self.accounts:
            self.accounts = accounts
            self.show_report()

    def show_report(self) -> None:
        self.query_one("#transcript-report", Static).update("\n".join(report_lines(self.session, self.accounts)))

    def text(self) -> str:
        return "\n".join([self.header, "", *self.lines, "", *report_lines(self.session, self.accounts)]) + "\n"

    def action_write(self) -> None:
        def chosen(path: Path | None) -> None:
            if path is not None and path.exists():
                self.app.push_screen(ConfirmPrompt(f"{path} exists. Write over it?"),
                                     lambda yes: write(path) if yes else None)
            elif path is not None:
                write(path)

        def write(path: Path) -> None:
            try:
                path.write_text(self.text(), encoding="utf-8")
            except OSError as err:
                self.notify(f"Cannot write {path}: {err.strerror}", severity="error", markup=False)
                return
            self.notify(f"Wrote the transcript of session #{self.session} to {path}", markup=False)

        self.app.push_screen(PathPrompt(f"Write the transcript of session #{self.session}",
                                        f"ftpfault-session-{self.session}.txt"), chosen)


def header_for(session: int, events: list[Event]) -> str:
    opened = next((e for e in events if e.kind == ev.SESSION_OPEN), None)
    login = next((e for e in events if e.kind == ev.LOGIN and e.ok), None)
    closed = any(e.kind == ev.SESSION_CLOSE for e in events)
    who = f"{login.user}@" if login else ""
    where = opened.address if opened else "(its start is older than the history kept)"
    since = f" · opened {clock(opened.time)}" if opened else ""
    return visible(f"Session #{session} · {who}{where}{since} · {'closed' if closed else 'open'}"
                   f" · Esc back · w write to a file")
