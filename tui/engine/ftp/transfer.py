"""One transfer's dealings with the rules: its plan, its cut, its rate and how it ends.

A ``Transfer`` is made when a data channel's bytes start to move, and asks the board once
what acts on it while it runs:

- a **rate** rule fires at once and throttles every chunk;
- a **cut** rule (``after=BYTES``) is asked to fire when the byte count reaches BYTES,
  and only if more data is waiting (a transfer of BYTES or fewer completes normally); if
  it does not fire (``every=``, ``chance=``), the next cut rule gets its turn;
- at the end, when pyftpdlib is about to send ``226``, a **completion** rule may replace
  that reply (the rate rule, if it also has a code or an action, is that rule).

Most transfers have neither a rate nor a cut: ``acts`` is False and the data channel runs
pyftpdlib's own code for every chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..board import FaultBoard
from ..rules import Rule

CUT_GRACE = 2.0  # seconds a cut download waits for the client to close before replying


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
    rate_rule: Rule | None = None
    cut_rule: Rule | None = None
    more_cuts: list[Rule] = field(default_factory=list)
    cutting: Rule | None = None  # the cut rule that fired: the transfer ends with it
    rate_started: float = 0.0
    rate_bytes: int = 0

    @property
    def acts(self) -> bool:
        """Whether chunks need looking at (a rate or a pending cut)."""
        return self.cut_rule is not None or self.rate_rule is not None

    @property
    def rate(self) -> int | None:
        return self.rate_rule.rate if self.rate_rule else None

    @property
    def cut_at(self) -> int | None:
        return self.cut_rule.after if self.cut_rule else None

    def about(self) -> dict:
        """The fields every event about this transfer carries."""
        return {"transfer": self.id, "command": self.command, "path": self.path,
                "direction": self.point, "size": self.size, "offset": self.offset}

    # --- the plan, when data starts to move

    def plan(self, board: FaultBoard) -> Rule | None:
        """Choose the rate and the cut rules; return the rate rule if one fired now."""
        if not board.armed:
            return None
        self.rate_rule = board.match(self.point, self.path, self.user,
                                     eligible=lambda r: r.rate is not None)
        if self.rate_rule is not None and self.rate_rule.after is not None:
            self.cut_rule = self.rate_rule
        else:
            cuts = [r for r in board.candidates(self.point, self.path, self.user)
                    if r.after is not None and r.rate is None]
            cuts.sort(key=lambda r: r.after)
            self.cut_rule, self.more_cuts = (cuts[0], cuts[1:]) if cuts else (None, [])
        return self.rate_rule

    # --- while it runs

    def room(self, moved: int) -> int | None:
        """How many more bytes may move before the cut (None: no cut pending)."""
        cut_at = self.cut_at
        return None if cut_at is None else max(0, cut_at - moved)

    def chunk(self, size: int, moved: int) -> int:
        """The most a chunk may carry now: up to the cut, and small enough to pace a rate."""
        room = self.room(moved)
        if room is not None:
            size = min(size, room)
        if self.rate:
            size = min(size, max(512, min(65536, self.rate // 8)))
        return size

    def cut_now(self, board: FaultBoard, moved: int) -> Rule | None:
        """The byte count reached a cut and more data is waiting: the rule that cuts here,
        fired, or None when none does (the transfer goes on, uncapped or to the next cut)."""
        while self.cut_rule is not None:
            rule = self.cut_rule
            if rule is self.rate_rule or board.fire(rule):  # a rate rule fired at the start
                self.cutting = rule
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

    def ending(self, board: FaultBoard, reply: str | None) -> tuple[Rule | None, bool]:
        """The rule that decides the final reply, and whether it fired just now (and so
        still needs its fault event). ``reply`` is what pyftpdlib is about to send: None
        when something else answers (ABOR, a closed session)."""
        if reply is None:
            return None, False
        if self.cutting is not None:
            return self.cutting, False
        if not reply.startswith("226") or not board.armed:
            return None, False
        if self.rate_rule is not None and not self.rate_rule.shapes_only:
            return self.rate_rule, False
        rule = board.match(self.point, self.path, self.user,
                           eligible=lambda r: r.after is None and r.rate is None)
        return rule, rule is not None
