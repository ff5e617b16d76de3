"""Who is connected and what they are doing, folded from events.

One model for the console's sessions table and the control API's ``GET /sessions``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from . import events as ev
from .events import Event

MAX_CLOSED_SESSIONS = 20  # closed sessions kept for display; older ones are forgotten


@dataclass
class Session:
    id: int
    client: str
    user: str = ""
    state: str = "connected"
    command: str = ""
    cwd: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class SessionTracker:
    """Applies events to a dict of sessions; bounded: only the last closed ones are kept."""

    def __init__(self, keep_closed: int = MAX_CLOSED_SESSIONS) -> None:
        self.sessions: dict[int, Session] = {}
        self.keep_closed = keep_closed
        self.closed_order: list[int] = []

    def apply(self, batch: Iterable[Event]) -> tuple[set[int], list[int]]:
        """Fold a batch in; return (sessions changed, sessions forgotten)."""
        touched: set[int] = set()
        for event in batch:
            sid = event.session
            if not sid:
                continue
            kind = event.kind
            session = self.sessions.get(sid)
            if kind == ev.SESSION_OPEN:
                session = self.sessions[sid] = Session(sid, event.address)
            elif session is None or session.state == "closed":
                continue  # (pyftpdlib tells a third failed login after closing the session)
            elif kind == ev.LOGIN:
                session.user = event.user
                session.state = "logged in" if event.ok else "login failed"
                if event.ok:
                    session.cwd = event.cwd
            elif kind == ev.COMMAND:
                session.command = f"{event.command} {event.arg}".strip()
            elif kind == ev.REPLY:
                if event.cwd:
                    session.cwd = event.cwd
            elif kind == ev.PROGRESS:
                session.state = f"{event.direction}ing"
            elif kind == ev.TRANSFER:
                session.state = "logged in" if session.user else "connected"
            elif kind == ev.SESSION_CLOSE:
                session.state = "closed"
                self.closed_order.append(sid)
            touched.add(sid)
        forgotten = []
        while len(self.closed_order) > self.keep_closed:
            sid = self.closed_order.pop(0)
            self.sessions.pop(sid, None)
            touched.discard(sid)
            forgotten.append(sid)
        return touched, forgotten

    def open_sessions(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.state != "closed"]
