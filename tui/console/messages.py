"""What the console's widgets ask of the app. Widgets never write to the board: they post
one of these, and the app, the board's one writer in the console, applies it."""

from __future__ import annotations

from textual.message import Message


class ArmRequested(Message):
    """A row's switch was flipped by the user."""

    def __init__(self, row, armed: bool) -> None:
        super().__init__()
        self.row = row
        self.armed = armed


class CodeRequested(Message):
    """A row's code picker was changed by the user (0: keep the normal reply)."""

    def __init__(self, row, code: int) -> None:
        super().__init__()
        self.row = row
        self.code = code
