"""The fault board: the rules every part of the program shares, safe from any thread.

The console, the control API, profiles and test code change rules; the server's loop
thread asks, at the moment a reply is due, whether one fires. Rules are immutable and
replaced whole; their counters live here, under one lock. Every change is told to the
board's listener (the server turns it into a ``rule`` event), so a journal says which
faults were armed when.

``decide`` applies the law of how rules combine (see tui/engine/rules.py): the first
deciding rule that fires, and every shaping rule that fires beside it. A rule with
``for=SECONDS`` disarms itself that long after it was armed: ``fire`` never lets it fire
past its time, and ``expire`` (the server calls it a few times a second) turns it off, so
the console and the API see it spent.
"""

from __future__ import annotations

import posixpath
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .chaos import COMMAND, Chaos, Script
from .rules import Rule, parse_rule, validate

# What a listener is told: (what happened, the rule as it is now, who did it).
ADDED, CHANGED, REMOVED, SPENT = "added", "changed", "removed", "spent"
Listener = Callable[[str, Rule, str], None]


@dataclass(frozen=True)
class RuleStats:
    fired: int = 0
    matched: int = 0
    remaining: int | None = None  # of times=N; None when unlimited
    expires_in: float | None = None  # seconds left of for=SECONDS while armed; 0 once it ran out

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0 or self.expires_in == 0


class _State:
    __slots__ = ("fired", "matched", "remaining", "rng", "armed_at", "expired")

    def __init__(self, rule: Rule, spec: str, seed: int | None, twin: int = 0, now: float = 0.0) -> None:
        self.fired = 0
        self.matched = 0
        self.remaining = rule.times
        self.armed_at = now  # when for=SECONDS started counting
        self.expired = False
        # one stream per rule, from the seed and the rule's own text (and which of identical
        # rules it is): adding, removing or reordering other rules never changes it
        self.rng = random.Random(f"{seed}:{spec}:{twin}") if seed is not None else random.Random()


WILDCARDS = frozenset("*?[")  # what makes a path= a glob (fnmatch's specials)


def named_path(rule: Rule) -> str | None:
    """The path= a rule names exactly (no wildcard), or None. Such a rule matches a
    transfer's path only when it is that path or that path's last part (Rule.matches)."""
    path = rule.path
    return None if path is None or not WILDCARDS.isdisjoint(path) else path


class _PointIndex:
    """The armed rules of one point: by the exact path they name, or to look at one by one."""

    __slots__ = ("named", "scan")

    def __init__(self) -> None:
        self.named: dict[str, dict[str, Rule]] = {}  # path -> {rule id: rule}
        self.scan: dict[str, Rule] = {}  # rule id -> rule (no path=, or a glob)


class FaultBoard:
    """The shared set of rules. ``version`` grows on every change, so a view redraws only
    when something changed; ``armed`` (the enabled rules) is a lock-free "anything to do?"
    for hot paths."""

    def __init__(self, seed: int | None = None, listener: Listener | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seed = seed
        self.listener = listener
        self.clock = clock
        self.chaos: Chaos | Script | None = None
        self.replay = None  # a ReplayPlan, when the board replays a journal
        self.chaos_listener: Callable[[Chaos | Script | None, str], None] | None = None
        self._lock = threading.Lock()
        self._rules: dict[str, Rule] = {}
        self._state: dict[str, _State] = {}
        self._specs: Counter[str] = Counter()  # how many rules on the board have each spec
        self._index: dict[str, _PointIndex] = {}  # point -> its armed rules (see _PointIndex)
        self._order: dict[str, int] = {}  # rule id -> its place on the board
        self._next_id = 1
        self.version = 0
        self.armed = 0

    # --- reading

    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules.values())

    def get(self, rule_id: str) -> Rule:
        with self._lock:
            return self._rules[rule_id]

    def first(self, point: str) -> Rule | None:
        """The first rule for a point."""
        with self._lock:
            return next((r for r in self._rules.values() if r.point == point), None)

    def stats(self, rule_id: str) -> RuleStats:
        with self._lock:
            rule, state = self._rules[rule_id], self._state[rule_id]
            expires_in = None
            if state.expired:
                expires_in = 0.0
            elif rule.duration is not None and rule.enabled:
                expires_in = max(0.0, state.armed_at + rule.duration - self.clock())
            remaining = state.remaining
            if rule.at is not None:  # the at= matches still to come
                left = sum(1 for n in rule.at if n > state.matched)
                remaining = left if remaining is None else min(remaining, left)
            return RuleStats(state.fired, state.matched, remaining, expires_in)

    def fired(self, rule_id: str) -> int:
        return self.stats(rule_id).fired

    def armed_count(self) -> int:
        return self.armed

    # --- changing

    def add(self, rule: Rule | str, source: str = "") -> Rule:
        rule = parse_rule(rule) if isinstance(rule, str) else validate(rule)
        with self._lock:
            rule = rule.replace(id=f"r{self._next_id}")
            self._order[rule.id] = self._next_id
            self._next_id += 1
            spec = rule.spec
            self._rules[rule.id] = rule
            self._index_add(rule)
            self._state[rule.id] = _State(rule, spec, self.seed, self._specs[spec], self.clock())
            self._specs[spec] += 1
            self.armed += rule.enabled
            self.version += 1
        self._tell(ADDED, rule, source)
        return rule

    def replace(self, rule_id: str, rule: Rule | str, source: str = "") -> Rule:
        """Put a new rule in an old one's place: same id and fired count; its times, every
        and chance start afresh."""
        rule = parse_rule(rule) if isinstance(rule, str) else validate(rule)
        with self._lock:
            old = self._rules.get(rule_id)
            if old is None:
                raise KeyError(rule_id)
            rule = rule.replace(id=rule_id)
            fired = self._state[rule_id].fired
            self._forget_spec(old.spec)
            spec = rule.spec
            self._index_drop(old)
            self._rules[rule_id] = rule
            self._index_add(rule)
            self._state[rule_id] = _State(rule, spec, self.seed, self._specs[spec], self.clock())
            self._specs[spec] += 1
            self._state[rule_id].fired = fired
            self.armed += rule.enabled - old.enabled
            self.version += 1
        self._tell(CHANGED, rule, source)
        return rule

    def update(self, rule_id: str, source: str = "", **changes) -> Rule:
        """Change some fields; arming a rule whose times ran out gives it its times again,
        and arming it again (or a new for=) starts its for= afresh."""
        with self._lock:
            old = self._rules[rule_id]
            rule = validate(old.replace(**changes))
            state = self._state[rule_id]
            if rule.times != old.times or (rule.enabled and not old.enabled and state.remaining == 0):
                state.remaining = rule.times
            if rule.enabled and (not old.enabled or rule.duration != old.duration):
                state.armed_at, state.expired = self.clock(), False
            self._index_drop(old)
            self._rules[rule_id] = rule
            self._index_add(rule)
            self.armed += rule.enabled - old.enabled
            self.version += 1
        if rule != old:
            self._tell(CHANGED, rule, source)
        return rule

    def remove(self, rule_id: str, source: str = "") -> None:
        with self._lock:
            rule = self._rules.pop(rule_id)
            self._index_drop(rule)
            del self._state[rule_id]
            del self._order[rule_id]
            self._forget_spec(rule.spec)
            self.armed -= rule.enabled
            self.version += 1
        self._tell(REMOVED, rule, source)

    def disarm_all(self, source: str = "") -> None:
        with self._lock:
            changed = [r.replace(enabled=False) for r in self._rules.values() if r.enabled]
            for rule in changed:
                self._rules[rule.id] = rule
            self._index.clear()
            self.armed = 0
            self.version += 1
        for rule in changed:
            self._tell(CHANGED, rule, source)
        self.enable_chaos(False, source)  # every fault: chaos's too

    def clear(self, source: str = "") -> None:
        """No rules at all (ids keep growing, so an old id never means a new rule)."""
        with self._lock:
            gone = list(self._rules.values())
            self._rules.clear()
            self._state.clear()
            self._specs.clear()
            self._index.clear()
            self._order.clear()
            self.armed = 0
            self.version += 1
        for rule in gone:
            self._tell(REMOVED, rule, source)

    def _index_add(self, rule: Rule) -> None:
        """Call under the lock, for a rule just put on the board: indexed if armed."""
        if not rule.enabled:
            return
        index = self._index.get(rule.point)
        if index is None:
            index = self._index[rule.point] = _PointIndex()
        path = named_path(rule)
        if path is None:
            index.scan[rule.id] = rule
        else:
            index.named.setdefault(path, {})[rule.id] = rule

    def _index_drop(self, rule: Rule) -> None:
        """Call under the lock, for a rule leaving the board or being replaced."""
        index = self._index.get(rule.point)
        if index is None:
            return
        path = named_path(rule)
        if path is None:
            index.scan.pop(rule.id, None)
        else:
            bucket = index.named.get(path)
            if bucket is not None:
                bucket.pop(rule.id, None)
                if not bucket:
                    del index.named[path]
        if not index.scan and not index.named:
            del self._index[rule.point]

    def _forget_spec(self, spec: str) -> None:
        self._specs[spec] -= 1
        if not self._specs[spec]:
            del self._specs[spec]

    def _tell(self, what: str, rule: Rule, source: str) -> None:
        if self.listener is not None:
            self.listener(what, rule, source)

    # --- the server's side

    def candidates(self, points: str | Iterable[str], path: str = "", user: str = "",
                   client: str = "", session: int = 0) -> list[Rule]:
        """Armed rules at these points whose path, user, client and session filters pass, in
        board order; nothing is counted. Only the rules that could match are looked at: a
        point's rules without an exact path=, and those naming this path or its last part."""
        points = (points,) if isinstance(points, str) else dict.fromkeys(points)
        names = (path, posixpath.basename(path)) if path else ()
        if len(names) == 2 and names[0] == names[1]:
            names = names[:1]
        found: list[Rule] = []
        with self._lock:
            for point in points:
                index = self._index.get(point)
                if index is None:
                    continue
                for rule in index.scan.values():
                    if rule.matches(path, user, client, session):
                        found.append(rule)
                if index.named:
                    for name in names:
                        for rule in index.named.get(name, {}).values():
                            if rule.matches(path, user, client, session):
                                found.append(rule)
            if len(found) > 1:
                order = self._order
                found.sort(key=lambda r: order[r.id])
        return found

    def watches(self, points: str | Iterable[str]) -> bool:
        """Whether an armed rule, or chaos, is at any of these points: no lock, for hot paths
        that would otherwise work out a path for nothing (a rule armed meanwhile counts from
        the next question on, as with ``armed``)."""
        points = (points,) if isinstance(points, str) else points
        index, chaos = self._index, self.chaos
        return any(point in index or (chaos is not None and chaos.enabled and point in chaos.points)
                   for point in points)

    def fire(self, rule: Rule) -> bool:
        """Count a match of ``rule`` and say whether it fires now (at, every, chance, times).
        A rule whose times or at= run out disarms itself; one past its for= never fires."""
        if rule.duration is not None and self.expire([rule.id]):
            return False
        spent = None
        with self._lock:
            current = self._rules.get(rule.id)
            if current is None or not current.enabled:
                return False
            state = self._state[rule.id]
            state.matched += 1
            fires = ((current.at is None or state.matched in current.at)
                     and (current.every is None or not state.matched % current.every)
                     and (current.chance is None or state.rng.random() < current.chance))
            if fires:
                state.fired += 1
                if state.remaining is not None:
                    state.remaining -= 1
            if ((fires and state.remaining is not None and state.remaining <= 0)
                    or (current.at is not None and state.matched >= current.at[-1])):
                spent = self._rules[rule.id] = current.replace(enabled=False)
                self._index_drop(current)
                self.armed -= 1
            if fires or spent is not None:
                self.version += 1
        if spent is not None:
            self._tell(SPENT, spent, "")
        return fires

    def matched(self, rule_id: str) -> int:
        """How many times the rule was asked so far (the number at= counts)."""
        with self._lock:
            state = self._state.get(rule_id)
            return state.matched if state is not None else 0

    def expire(self, rule_ids: Iterable[str] | None = None) -> list[Rule]:
        """Disarm the rules (all, or these) whose for= ran out; the ones it disarmed."""
        now = self.clock()
        spent = []
        with self._lock:
            for rule_id in self._rules if rule_ids is None else rule_ids:
                rule, state = self._rules.get(rule_id), self._state.get(rule_id)
                if (rule is not None and rule.enabled and rule.duration is not None
                        and now >= state.armed_at + rule.duration):
                    state.expired = True
                    self._index_drop(rule)
                    self._rules[rule_id] = rule.replace(enabled=False)
                    spent.append(self._rules[rule_id])
                    self.armed -= 1
                    self.version += 1
        for rule in spent:
            self._tell(SPENT, rule, "")
        return spent

    def decide(self, points: str | Iterable[str], path: str = "", user: str = "", client: str = "",
               session: int = 0, eligible: Callable[[Rule], bool] | None = None,
               decided: bool = False, moment: str = COMMAND, context: dict | None = None) -> list[Rule]:
        """The rules that fire now at one reply, counted: the first deciding rule that fires
        (none more are asked once one did, or if ``decided`` already) and every shaping rule
        that fires, in board order, the deciding one first (see rules.combine). Chaos, when
        on, has its turn at the same time: it draws only when no rule decided."""
        points = (points,) if isinstance(points, str) else tuple(points)
        deciding: list[Rule] = []
        shaping: list[Rule] = []
        for rule in self.candidates(points, path, user, client, session):
            if rule.decides and (decided or deciding):
                continue
            if (eligible is None or eligible(rule)) and self.fire(rule):
                (deciding if rule.decides else shaping).append(rule)
        chaos = self.chaos
        if chaos is not None:
            drawn = chaos.turn(points, moment, context or {}, drawing=not (decided or deciding or shaping))
            if drawn is not None and drawn.rule is not None and (eligible is None or eligible(drawn.rule)):
                (deciding if drawn.rule.decides else shaping).append(drawn.rule)
        return deciding + shaping

    # --- chaos

    def set_chaos(self, chaos: Chaos | Script | None, source: str = "") -> None:
        """Chaos on, off (None) or another; it counts as armed while enabled."""
        with self._lock:
            old = self.chaos
            self.armed += int(bool(chaos and chaos.enabled)) - int(bool(old and old.enabled))
            self.chaos = chaos
            self.version += 1
        if self.chaos_listener is not None and (old is not None or chaos is not None):
            self.chaos_listener(chaos, source)

    def enable_chaos(self, enabled: bool, source: str = "") -> None:
        chaos = self.chaos
        if chaos is not None and chaos.enabled != enabled:
            with self._lock:
                chaos.enabled = enabled
                self.armed += 1 if enabled else -1
                self.version += 1
            if self.chaos_listener is not None:
                self.chaos_listener(chaos, source)
