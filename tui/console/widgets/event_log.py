"""The log: every event as a line, with filters, search, and a follow you can see.

Lines are kept (bounded) with what they are about, so a filter (all, faults, the selected
session, errors) redraws from them at once. The log follows new lines until the user
scrolls up, and says so in its border; End follows again, from anywhere in the console.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from rich.highlighter import Highlighter
from rich.text import Text
from textual.widgets import Log

from ...engine import events as ev
from ...engine.events import Event
from ...engine.logline import format_event

MAX_LOG_LINES = 5000
FILTERS = ("all", "faults", "session", "errors")


@dataclass(frozen=True, slots=True)
class Entry:
    line: str
    session: int
    kind: str  # fault, shape, error or other


def entry_kind(event: Event) -> str:
    if event.kind == ev.FAULT:
        return "shape" if event.shaping else "fault"
    if (event.kind == ev.ERROR or (event.kind == ev.REPLY and (event.code or 0) >= 400)
            or (event.kind == ev.TRANSFER and event.code != 226)):
        return "error"
    return "other"


class LogHighlighter(Highlighter):
    """Failed replies in red, shaping in its own colour, the search term reversed."""

    def __init__(self) -> None:
        self.term = ""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if " FAULT " in plain:
            text.stylize("bold white on dark_red")
        elif " SHAPE " in plain:
            text.stylize("bold magenta")
        elif " ERROR " in plain:
            text.stylize("bold red")
        elif " -> 4" in plain or " -> 5" in plain:
            text.stylize("yellow")
        elif " <- " in plain:
            text.stylize("cyan")
        if self.term:
            low, term = plain.lower(), self.term.lower()
            start = low.find(term)
            while start >= 0:
                text.stylize("reverse", start, start + len(term))
                start = low.find(term, start + len(term))


class EventLog(Log):
    def __init__(self, **kwargs) -> None:
        super().__init__(highlight=True, max_lines=MAX_LOG_LINES, auto_scroll=False, **kwargs)
        self.highlighter = LogHighlighter()
        self.entries: deque[Entry] = deque(maxlen=MAX_LOG_LINES)
        self.filter = "all"
        self.session = 0  # the session the "session" filter shows
        self.following = True
        self.moving = False
        self.hit = -1  # the line of the last search hit
        self.show_state()

    # --- lines in

    def apply(self, batch: Iterable[Event]) -> None:
        new = [Entry(line, event.session, entry_kind(event))
               for event in batch if (line := format_event(event)) is not None]
        if new:
            self.entries.extend(new)
            self.write_lines([e.line for e in new if self.shows(e)], scroll_end=False)
            self.keep_following()

    def note(self, line: str) -> None:
        """A line of the console's own (an error it survived, dropped events)."""
        self.apply_entries([Entry(line, 0, "error")])

    def apply_entries(self, entries: list[Entry]) -> None:
        self.entries.extend(entries)
        self.write_lines([e.line for e in entries if self.shows(e)], scroll_end=False)
        self.keep_following()

    def shows(self, entry: Entry) -> bool:
        if self.filter == "faults":
            return entry.kind in ("fault", "shape")
        if self.filter == "errors":
            return entry.kind in ("fault", "error")
        if self.filter == "session":
            return entry.session == self.session
        return True

    def clear_all(self) -> None:
        self.entries.clear()
        self.clear()

    # --- filter and search

    def set_filter(self, name: str, session: int = 0) -> None:
        self.filter, self.session = name, session
        self.moving = True
        try:
            self.clear()
            self.write_lines([e.line for e in self.entries if self.shows(e)], scroll_end=False)
        finally:
            self.moving = False
        self.hit = -1
        self.following = True
        self.show_state()
        self.keep_following()

    def search(self, term: str, forward: bool = True) -> bool:
        """Highlight ``term`` and go to its next line; False when it is nowhere."""
        self.highlighter.term = term
        self._render_line_cache.clear()
        self.refresh()
        if not term:
            self.show_state()
            return False
        lines, low = self.lines, term.lower()
        count = len(lines)
        for step in range(1, count + 1):
            index = (self.hit + step) % count if forward else (self.hit - step) % count
            if low in lines[index].lower():
                self.hit = index
                self.set_following(False)
                self.moving = True
                try:
                    self.scroll_to(y=max(0, index - self.size.height // 2), animate=False, immediate=True)
                finally:
                    self.moving = False
                self.show_state()
                return True
        self.show_state()
        return False

    def next_hit(self) -> bool:
        return self.search(self.highlighter.term)

    # --- following

    def keep_following(self) -> None:
        if self.following:
            self.moving = True
            try:
                self.scroll_end(animate=False, immediate=True, x_axis=False)
            finally:
                self.moving = False

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if not self.moving and new < old:  # the user scrolled up: pause
            self.set_following(False)

    def on_resize(self) -> None:
        self.keep_following()

    def action_scroll_end(self) -> None:
        self.follow()

    def follow(self) -> None:
        self.set_following(True)
        self.keep_following()

    def set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.show_state()

    def show_state(self) -> None:
        """The border says which lines are shown, and whether new ones are followed."""
        what = {"all": "all", "faults": "faults only", "errors": "errors",
                "session": f"session #{self.session}"}[self.filter]
        self.border_title = f"Log · {what} (f)"
        term = self.highlighter.term
        found = f"'{term}' · n next · " if term else ""
        self.border_subtitle = found + ("following" if self.following else "paused · End follows")
