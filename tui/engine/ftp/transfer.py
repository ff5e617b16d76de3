"""One transfer's dealings with the rules: its plan, its marks, its rate and how it ends.

A ``Transfer`` is made when a data channel's bytes start to move. The rules of its point
are asked when they have something to do, by the law of tui/engine/rules.py (the first
deciding rule that fires, every shaping rule that fires beside it):

- at the start, the rules that act while data moves: ``rate=`` (the slowest of them
  throttles every chunk) and ``early``; one of them with a code decides the end;
- a **cut** rule (``after=BYTES``) is asked to fire when the byte count reaches BYTES,
  and only if more data is waiting (a transfer of BYTES or fewer completes normally); if
  it does not fire (``every=``, ``chance=``), the next cut rule gets its turn;
- at the end, when pyftpdlib is about to send ``226``, the other rules: a deciding one
  replaces that reply (unless one decided already), shaping ones delay or shape it. With
  ``early`` that end comes before the last bytes (``EARLY_TAIL`` of them) are sent.

Most transfers have no rate and no mark: ``acts`` is False and the data channel runs
pyftpdlib's own code for every chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..board import FaultBoard
from ..chaos import END, START
from ..rules import Rule, combine

CUT_GRACE = 2.0  # seconds a cut download waits for the client to close before replying
EARLY_TAIL = 65536  # bytes an early reply leaves unsent (at most half the download)
EARLY_DELAY = 0.5  # seconds between an early reply and the rest of the data


@dataclass
class Transfer:
    """What a transfer is, for events, and what the rules do to it."""

    id: int
    command: str
    path: str
    point: str  # upload, download or list
    user: str
    offset: int = 0  # REST, or where an APPE starts writing
    size: int = -1  # bytes a download will send; -1 when unknown
    client: str = ""
    session: int = 0
    started: list[Rule] = field(default_factory=list)  # the rules that fired at the start
    decided: Rule | None = None  # the rule that decides the final reply, once one fired
    rate: int | None = None
    early_at: int | None = None  # the byte count at which the final reply goes out early
    cut_rule: Rule | None = None
    more_cuts: list[Rule] = field(default_factory=list)
    cutting: Rule | None = None  # the cut rule that fired: the transfer ends with it
    replied: str | None = None  # the final reply an early end sent ("" when none)
    rate_started: float = 0.0
    rate_bytes: int = 0

    @property
    def acts(self) -> bool:
        """Whether chunks need looking at (a rate or a pending mark)."""
        return self.rate is not None or self.marks

    @property
    def marks(self) -> bool:
        """Whether a byte count is pending at which the transfer stops (a cut, an early end)."""
        return self.cut_rule is not None or (self.early_at is not None and self.replied is None)

    @property
    def cut_at(self) -> int | None:
        return self.cut_rule.after if self.cut_rule else None

    def about(self) -> dict:
        """The fields every event about this transfer carries."""
        return {"transfer": self.id, "command": self.command, "path": self.path,
                "direction": self.point, "size": self.size, "offset": self.offset}

    def ask(self, board: FaultBoard, eligible, moment: str) -> list[Rule]:
        return board.decide(self.point, self.path, self.user, self.client, self.session,
                            eligible=eligible, decided=self.decided is not None, moment=moment,
                            context={"size": self.size, "command": self.command})

    # --- the plan, when data starts to move

    def plan(self, board: FaultBoard) -> list[Rule]:
        """Ask the rules that act while data moves; return those that fired now."""
        if not board.armed:
            return []
        self.started = fired = self.ask(board, lambda r: r.rate is not None or r.early or r.drawn
                                        is not None and r.after is not None, START)
        self.decided = next((r for r in fired if r.decides), None)
        rates = [r.rate for r in fired if r.rate is not None]
        self.rate = min(rates) if rates else None
        if any(r.early for r in fired) and self.size > 1:
            self.early_at = self.size - min(EARLY_TAIL, self.size // 2)
        if self.decided is not None:
            self.cut_rule = self.decided if self.decided.after is not None else None
        else:
            cuts = [r for r in board.candidates(self.point, self.path, self.user, self.client,
                                                self.session)
                    if r.after is not None and r.rate is None and not r.early]
            cuts.sort(key=lambda r: r.after)
            self.cut_rule, self.more_cuts = (cuts[0], cuts[1:]) if cuts else (None, [])
        return fired

    # --- while it runs

    def room(self, moved: int) -> int | None:
        """How many more bytes may move before the next mark (None: no mark pending)."""
        marks = [at for at in (self.cut_at, self.early_at if self.replied is None else None)
                 if at is not None]
        return max(0, min(marks) - moved) if marks else None

    def chunk(self, size: int, moved: int) -> int:
        """The most a chunk may carry now: up to the mark, and small enough to pace a rate."""
        room = self.room(moved)
        if room is not None:
            size = min(size, room)
        if self.rate:
            size = min(size, max(512, min(65536, self.rate // 8)))
        return size

    def early_due(self, moved: int) -> bool:
        """The byte count reached the early end, before any cut."""
        return (self.early_at is not None and self.replied is None and moved >= self.early_at
                and (self.cut_at is None or self.cut_at > moved))

    def cut_now(self, board: FaultBoard, moved: int) -> Rule | None:
        """The byte count reached a cut and more data is waiting: the rule that cuts here,
        fired, or None when none does (the transfer goes on, uncapped or to the next cut).
        Once the final reply went out early, nothing cuts: it said how the transfer ends."""
        if self.replied is not None:
            self.cut_rule = None
        while self.cut_rule is not None:
            rule = self.cut_rule
            if rule is self.decided or board.fire(rule):  # a deciding rule fired at the start
                self.cutting = self.decided = rule
                return rule
            # this one does not fire now (every=, chance=, ...): the next cut rule may
            self.cut_rule = self.more_cuts.pop(0) if self.more_cuts else None
            if self.cut_rule is not None and self.cut_rule.after > moved:
                return None
        return None

    def pause_for(self, nbytes: int) -> float:
        """Seconds to wait after moving ``nbytes`` so that the bytes so far fit the rate."""
        now = time.monotonic()
        if not self.rate_started:
            self.rate_started = now
        self.rate_bytes += nbytes
        return self.rate_started + self.rate_bytes / self.rate - now

    # --- the end

    def ending(self, board: FaultBoard, reply: str | None) -> tuple[Rule | None, list[Rule]]:
        """The rule in effect for the final reply (None: pyftpdlib's reply goes out as it is)
        and the rules that fired just now (they still need their fault events). ``reply`` is
        what pyftpdlib is about to send: None when something else answers (ABOR, a closed
        session); not a 226 when the transfer broke on its own."""
        if reply is None or (self.decided is None and not reply.startswith("226")):
            return None, []
        fired = []
        if board.armed:
            fired = self.ask(board, lambda r: r.after is None and r.rate is None and not r.early, END)
        deciding = self.decided or next((r for r in fired if r.decides), None)
        rules = [*([deciding] if deciding else []),
                 *(r for r in (*self.started, *fired) if r is not deciding)]
        rule = combine(rules)
        return (rule if rule is not None and rule.changes_reply else None), fired
