"""Tables that fit their width and follow new rows: sessions, transfers, the client report.

Each table names its columns once (``Column``): how wide each must be, which take the
room left (a path), and which to leave out first when the terminal is narrow, so no table
ever needs a horizontal scrollbar. Cells hold the whole text; what is drawn is cut to the
column (paths in the middle, so the file name shows). New rows are followed, like a log,
until the user moves the cursor up; End follows again. Rows are bounded, and updated cell
by cell.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from rich.text import Text
from textual.binding import Binding
from textual.events import Resize
from textual.widgets import DataTable

from ...engine.logline import visible

PADDING = 2  # DataTable draws a space on each side of every cell
EVICT_SLACK = 50  # rows past MAX_ROWS before the oldest go, all at once
WANTS_AT = 2  # growing columns take what they want before columns of this priority and less


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int  # what it needs (a growing one: at least)
    priority: int  # 0 always shows; higher numbers are left out first on a narrow table
    grow: int = 0  # a share of the room left over at the end
    want: int = 0  # a growing one takes up to this much before less important columns
    middle: bool = False  # cut in the middle (paths), else at the end


Cell = tuple[str, str]  # (text, Rich style)


def cut(text: str, width: int, middle: bool = False) -> str:
    """Text cut to ``width`` with an ellipsis, in the middle for paths."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    if middle:
        head = (width - 1) // 2
        return text[:head] + "…" + text[len(text) - (width - 1 - head):]
    return text[:width - 1] + "…"


def fit(columns: tuple[Column, ...], width: int) -> list[tuple[Column, int]]:
    """The columns that fit in ``width``, in their order, each with its width. The most
    important (priority 0 and 1) come first; then the growing ones take what they want;
    then the others, while they fit; whatever room is left goes to the growing ones."""
    widths: dict[str, int] = {}
    used = 0

    def place(column: Column) -> None:
        nonlocal used
        if column.priority == 0 or used + column.width + PADDING <= width:
            widths[column.key] = column.width
            used += column.width + PADDING

    ranked = sorted(columns, key=lambda c: c.priority)
    for column in ranked:
        if column.priority < WANTS_AT:
            place(column)
    for column in columns:
        if column.key in widths and column.want > column.width:
            more = min(column.want - column.width, max(0, width - used))
            widths[column.key] += more
            used += more
    for column in ranked:
        if column.priority >= WANTS_AT:
            place(column)
    chosen = [c for c in columns if c.key in widths]
    room = max(0, width - used)
    shares = sum(c.grow for c in chosen)
    for c in chosen:
        widths[c.key] += room * c.grow // shares if shares else 0
    growing = [c for c in chosen if c.grow]
    if growing:  # what the integer division left over
        widths[growing[0].key] += room - sum(room * c.grow // shares for c in growing)
    return [(c, widths[c.key]) for c in chosen]


class FitTable(DataTable):
    """A DataTable whose rows are dicts of whole cells, drawn cut to the columns that fit."""

    COLUMNS: tuple[Column, ...] = ()
    MAX_ROWS = 200
    NEWEST_FIRST = False  # new rows go on top (the report) rather than at the bottom
    whole_refresh_held = False  # changed cells repaint their row only (row_only)
    BINDINGS = [
        Binding("end", "follow", "Follow", show=False),
        Binding("home", "first", "First", show=False),
    ]

    def __init__(self, title: str, **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.title = title
        self.cells: OrderedDict[str, dict[str, Cell]] = OrderedDict()  # row key -> whole cells
        self.layout_widths: list[tuple[Column, int]] = []
        self.following = True
        self.moving = False  # the table moves its own cursor: that is not the user going back
        self.show_title()

    # --- columns that fit

    def on_resize(self, event: Resize) -> None:
        self.relayout()

    def redraw(self) -> None:
        """Every row again, in the order of ``cells`` (after a bulk change)."""
        with self.own_move():
            self.clear()
            for key, row in self.cells.items():
                self.add_row(*self.drawn(row), key=key)

    def relayout(self) -> None:
        width = self.size.width - 1  # room for the vertical scrollbar
        wanted = fit(self.COLUMNS, width)
        if [(c.key, w) for c, w in wanted] == [(c.key, w) for c, w in self.layout_widths]:
            return
        selected = self.selected_key()
        self.layout_widths = wanted
        with self.own_move():
            self.clear(columns=True)
            for column, w in wanted:
                self.add_column(column.label, width=w, key=column.key)
            for key, row in self.cells.items():
                self.add_row(*self.drawn(row), key=key)
        self.restore(selected)

    def drawn(self, row: dict[str, Cell]) -> list[Text]:
        out = []
        for column, width in self.layout_widths:
            text, style = row.get(column.key, ("", ""))
            out.append(Text(cut(text, width, column.middle), style=style, end=""))
        return out

    # --- rows

    def put(self, key: str, row: dict[str, Cell]) -> None:
        """Add a row, or change the cells of one that differ."""
        old = self.cells.get(key)
        self.cells[key] = row
        if not self.layout_widths:
            return  # drawn by the first relayout
        if old is None:
            self.add_row(*self.drawn(row), key=key)
            if len(self.cells) > self.MAX_ROWS + EVICT_SLACK:  # in bulk: a removed row costs a rebuild
                selected = self.selected_key()
                for old_key in list(self.cells)[:len(self.cells) - self.MAX_ROWS]:
                    del self.cells[old_key]
                self.redraw()
                self.restore(selected)
            elif self.following:
                self.to_row(self.row_count - 1)
            return
        changed = [(column.key, value) for (column, _), value in zip(self.layout_widths, self.drawn(row))
                   if old.get(column.key) != row.get(column.key)]
        if changed:
            with self.row_only():
                for column_key, value in changed:
                    self.update_cell(key, column_key, value)
            self.refresh_row(self.get_row_index(key))

    def drop(self, keys: Iterable[str]) -> None:
        selected = self.selected_key()
        with self.own_move():  # a removed row above the cursor moves it up: not the user
            for key in keys:
                if self.cells.pop(key, None) is not None and key in self.rows:
                    self.remove_row(key)
        self.restore(selected)

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        except Exception:  # (no columns yet)
            return None

    def restore(self, key: str | None) -> None:
        """Keep the selected row selected, or the newest one while following."""
        if not self.row_count:
            return
        if self.following or key is None or key not in self.rows:
            self.to_row(0 if self.NEWEST_FIRST else self.row_count - 1)
        else:
            self.to_row(self.get_row_index(key))

    def to_row(self, index: int) -> None:
        with self.own_move():
            self.move_cursor(row=index, animate=False)

    @contextlib.contextmanager
    def row_only(self) -> Iterator[None]:
        """update_cell() repaints the whole table; a changed row needs only its own line
        (while bytes flow, the table is otherwise repainted twice a second, every line)."""
        self.whole_refresh_held = True
        try:
            yield
        finally:
            self.whole_refresh_held = False

    def refresh(self, *regions, **kwargs):
        if self.whole_refresh_held and not regions and not kwargs:
            return self
        return super().refresh(*regions, **kwargs)

    @contextlib.contextmanager
    def own_move(self) -> Iterator[None]:
        """The cursor moves because the table changed, not because the user went back."""
        was, self.moving = self.moving, True
        try:
            yield
        finally:
            self.moving = was

    # --- following

    def watch_cursor_coordinate(self, old, new) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self.moving and new.row < old.row and not self.NEWEST_FIRST:  # went back: pause
            self.set_following(False)

    def action_follow(self) -> None:
        self.set_following(True)
        self.restore(None)

    def action_first(self) -> None:
        self.set_following(False)
        self.to_row(0)

    def set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.show_title()

    def show_title(self) -> None:
        self.border_title = self.title
        if self.NEWEST_FIRST:
            self.border_subtitle = "newest first · Enter: transcript"
        else:
            self.border_subtitle = "" if self.following else "paused · End follows"


def plain(value: str, style: str = "") -> Cell:
    """A cell of client text: shown as sent (markup is just text to a Text)."""
    return visible(value), style
