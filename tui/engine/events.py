"""What the server tells the world, and the bounded queues that carry it across threads.

The server thread only ever appends to a ``deque(maxlen=...)``: it never waits for a
reader. Readers (the console's refresh timer, the headless printer, tests) drain in
batches. When a reader falls behind, the oldest events are dropped and counted.
"""

from __future__ import annotations

import bisect
import dataclasses
import itertools
import operator
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

# Kinds of event, in the order a session produces them.
SESSION_OPEN = "session.open"
LOGIN = "login"
COMMAND = "command"
REPLY = "reply"
PROGRESS = "transfer.progress"
TRANSFER = "transfer"
FAULT = "fault"
SESSION_CLOSE = "session.close"
ERROR = "error"
RUN = "run"  # the first event of a run: what was served, how, with which rules
RULE = "rule"  # a rule was added, changed, removed, or spent its times=N
CHAOS = "chaos"  # chaos was switched on or off, or changed
DIVERGED = "replay.diverged"  # replaying a run: the client did something else than then
KINDS = (RUN, RULE, CHAOS, SESSION_OPEN, LOGIN, COMMAND, REPLY, PROGRESS, TRANSFER, FAULT,
         SESSION_CLOSE, ERROR, DIVERGED)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened; fields that do not apply to a kind keep their default.
    The README's "Journal and events" section documents every kind and field."""

    seq: int
    time: float
    kind: str
    session: int = 0
    address: str = ""
    user: str = ""
    ok: bool = True
    command: str = ""
    arg: str = ""
    code: int | None = None  # a reply's code; a fault's or a transfer's (None: no reply)
    message: str = ""  # a reply's text (its last line), a fault's message, an error
    lines: tuple[str, ...] = ()  # the lines before the last of a multi-line reply
    unsolicited: bool = False  # a reply event: a rule's extra= reply, the answer to no command
    cwd: str = ""
    transfer: int = 0
    path: str = ""
    direction: str = ""
    bytes: int = 0
    size: int = -1
    offset: int = 0  # where a transfer started in the file (REST, APPE)
    elapsed: float = 0.0
    rule: str = ""
    point: str = ""
    action: str = ""
    shaping: bool = False  # a fault event: the rule only shapes (a rate, a delay): the reply is normal
    match: int = 0  # a fault: which match of its rule it was (chaos: which turn of the point)
    moment: str = ""  # a chaos fault: when the point was asked (command, start, end)
    change: str = ""  # a rule event: added, changed, removed, spent
    spec: str = ""
    enabled: bool = True
    source: str = ""  # who changed the rule: console, api, profile FILE, command line
    run: str = ""  # a run event: its id, the version and what was served
    version: str = ""
    settings: dict | None = None
    seed: int | None = None
    rules: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        """The event as JSON-ready data: the fields its kind always has, plus any other
        field that is not at its default."""
        keep = _ALWAYS | _ALWAYS_BY_KIND.get(self.kind, set())
        defaults = _DEFAULTS
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()
                if k in keep or v != defaults[k]}

    @classmethod
    def from_dict(cls, data: dict) -> Event:
        """An event read back from JSON (a journal): lists become tuples again."""
        data = dict(data)
        for name in ("lines", "rules"):
            if isinstance(data.get(name), list):
                data[name] = tuple(data[name])
        return cls(**data)


_ALWAYS = {"seq", "time", "kind", "session"}
_ALWAYS_BY_KIND = {
    "transfer": {"transfer", "command", "path", "direction", "bytes", "size", "offset", "code"},
    "fault": {"rule", "point", "code", "message", "command", "path", "action", "spec", "match"},
    "reply": {"code", "message"},
    "command": {"command", "arg"},
    "login": {"user", "ok"},
    "rule": {"rule", "change", "spec", "enabled", "source"},
    "run": {"run", "version", "settings", "seed", "rules"},
    "chaos": {"enabled", "settings", "source"},
    "replay.diverged": {"message", "rule", "point", "match"},
}
_DEFAULTS = {f: getattr(Event(0, 0.0, ""), f) for f in Event.__dataclass_fields__}

# The bus makes its events as an _EventDraft: the same fields in the same slots, but not
# frozen, so its __init__ stores each field directly rather than through the frozen class's
# object.__setattr__ (0.7 us an event rather than 3.5; a small transfer makes seven). The
# draft then becomes an Event (same layout, so Python allows the class change) before
# anyone sees it: readers only ever get frozen Events, equal to Event(...) with the same fields.
_EventDraft = dataclasses.make_dataclass(
    "_EventDraft", [(f.name, f.type, dataclasses.field(default=f.default))
                    for f in dataclasses.fields(Event)], slots=True)
assert _EventDraft.__slots__ == Event.__slots__, "Event and its draft must share one layout"


class Subscription:
    """A bounded queue of events for one reader."""

    def __init__(self, maxlen: int) -> None:
        self.maxlen = maxlen
        self.dropped = 0
        self._queue: deque[Event] = deque(maxlen=maxlen)

    def __len__(self) -> int:
        return len(self._queue)

    def put(self, event: Event) -> None:
        if len(self._queue) == self.maxlen:
            self.dropped += 1
        self._queue.append(event)

    def drain(self) -> list[Event]:
        """Everything queued so far, oldest first."""
        queue = self._queue
        out = []
        try:
            while True:
                out.append(queue.popleft())
        except IndexError:
            return out


class EventHistory:
    """The last ``maxlen`` events for readers that ask "what happened since seq N?"
    (the control API, tests, transcripts); transfer.progress is left out. Safe from any
    thread.

    It keeps each event as the bus recorded it, one flat tuple of strings and numbers,
    which the garbage collector stops tracking (a dict or a tuple per field in it would
    keep it tracked, or count as more objects), where 100,000 Events (44 slots each) would
    make every full collection walk them all (70 ms a collection, in a flood of transfers).
    Events are made again for what a reader asks for."""

    def __init__(self, bus: EventBus, maxlen: int = 100_000) -> None:
        self._records = bus.record(maxlen)

    def since(self, seq: int = 0, kind: str | None = None, session: int | None = None) -> list[Event]:
        """Events after ``seq``, oldest first (optionally of one kind, of one session)."""
        records = list(self._records)  # (one C-level copy: the server thread appends meanwhile)
        newer = records[bisect.bisect_right(records, seq, key=_SEQ):]
        return [_event(record) for record in newer
                if (kind is None or record[2] == kind) and (session is None or record[3] == session)]


_SEQ = operator.itemgetter(0)


def _event(record: tuple) -> Event:
    seq, when, kind, session, n = record[:5]
    return _made(seq, when, kind, session, dict(zip(record[5:5 + n], record[5 + n:])))


def _made(seq: int, when: float, kind: str, session: int, fields: dict) -> Event:
    event = _EventDraft(seq, when, kind, session, **fields)
    event.__class__ = Event  # frozen from here on (see _EventDraft)
    return event


class EventBus:
    """Fans events out to subscribers. ``emit`` is cheap and never blocks."""

    def __init__(self) -> None:
        self._seq = itertools.count(1)
        self._subs: tuple[Subscription, ...] = ()
        self._records: tuple[deque, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, maxlen: int = 10_000) -> Subscription:
        sub = Subscription(maxlen)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    def record(self, maxlen: int) -> deque:
        """A bounded record of every event but transfer.progress, each one flat tuple:
        ``(seq, time, kind, session, n, n field names, their n values)`` (EventHistory)."""
        records: deque = deque(maxlen=maxlen)
        with self._lock:
            self._records = (*self._records, records)
        return records

    def emit(self, kind: str, session: int = 0, **fields) -> Event:
        seq, when = next(self._seq), time.time()
        event = _made(seq, when, kind, session, fields)
        for sub in self._subs:
            sub.put(event)
        if kind != PROGRESS:
            for records in self._records:
                records.append((seq, when, kind, session, len(fields), *fields, *fields.values()))
        return event
