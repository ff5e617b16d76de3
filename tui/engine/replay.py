"""Exact replay: the faults a journal recorded, fired again on the same matches.

Every fault event says which match of its rule it was (``match``), and for a chaos draw
which turn of its point (``match``, ``moment``). From one run of a journal this builds:

- for every rule that fired, the same rule with its random or counting triggers (times,
  every, chance, for, at) replaced by ``at=`` the matches it fired on; the rules keep their
  order, their filters (path, user, client, session) and so the same matches;
- for the chaos draws, a ``Script`` that draws the same fault at the same turn.

A client that does the same again meets the same faults in the same places. One that does
not is told where it diverged: a fault whose match comes with another path than then, and,
when the server stops, the matches that never came. (A rule armed part way through the
recorded run is replayed from the start: its matches count from there.)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from . import events as ev
from .board import FaultBoard
from .chaos import Script
from .events import Event
from .report import read_journal
from .rules import Rule, RuleError, parse_rule

RESET_TRIGGERS = {"times": None, "every": None, "chance": None, "duration": None, "at": None}


class ReplayError(ValueError):
    """A journal that cannot be replayed; the message says why."""


@dataclass
class ReplayPlan:
    rules: list[Rule]
    script: Script
    run: str = ""
    faults: int = 0
    expected: dict[tuple, str] = field(default_factory=dict)  # what each fault met then: its path
    ids: dict[int, str] = field(default_factory=dict)  # index in rules -> its id on the board

    def arm(self, board: FaultBoard, source: str = "replay") -> None:
        """Put the rules and the script on a board, and watch it for divergences."""
        for index, rule in enumerate(self.rules):
            self.ids[index] = board.add(rule, source=source).id
        self._index = {rule_id: index for index, rule_id in self.ids.items()}
        if self.script.draws:
            board.set_chaos(self.script, source=source)
        board.replay = self

    def check(self, rule: Rule, match: int, path: str) -> list[str]:
        """A fault fired now: where it differs from the recorded run."""
        if rule.drawn is not None:
            point, moment, _ = rule.drawn
            key, what = ("chaos", point, moment, match), f"chaos draw #{match} at {point} ({moment})"
        elif rule.id in getattr(self, "_index", {}):
            key, what = (self._index[rule.id], match), f"match #{match} of {rule.id} ({rule.spec})"
        else:
            return []
        expected = self.expected.get(key)
        if expected is not None and expected != path:
            return [f"{what}: the recorded run had {expected or '(no path)'}, this one {path or '(no path)'}"]
        return []

    def unmet(self, board: FaultBoard) -> list[str]:
        """The recorded faults whose match never came (when the server stops)."""
        missing = []
        for index, rule in enumerate(self.rules):
            rule_id = self.ids.get(index)
            try:
                matched = board.matched(rule_id) if rule_id else 0
            except KeyError:
                continue
            for n in rule.at or ():
                if n > matched:
                    missing.append(f"match #{n} of {rule_id} ({rule.spec}) never came: the client "
                                   f"gave it {matched} match(es)")
        for point, moment, turn, spec in self.script.unplayed():
            missing.append(f"chaos draw #{turn} at {point} ({moment}, {spec}) never came")
        return missing


def plan_from_journal(lines: Iterable[str], run: str | None = None) -> tuple[ReplayPlan, list[str]]:
    """The replay of one run of a journal (the last one unless ``run`` names another), and
    the journal's warnings. ReplayError when there is no such run or nothing to replay."""
    runs: list[list[Event]] = []
    warnings = []
    for _, event, warning in read_journal(lines):
        if warning:
            warnings.append(warning)
        if event is None:
            continue
        if event.kind == ev.RUN or not runs:
            runs.append([])
        runs[-1].append(event)
    if run is not None:
        runs = [r for r in runs if r and r[0].kind == ev.RUN and r[0].run == run]
        if not runs:
            raise ReplayError(f"no run {run!r} in the journal")
    if not runs:
        raise ReplayError("the journal has no events")
    events = runs[-1]
    run_id = events[0].run if events[0].kind == ev.RUN else ""
    faults = [e for e in events if e.kind == ev.FAULT]
    if not faults:
        raise ReplayError(f"run {run_id or '?'} has no faults to replay")
    fired: dict[tuple[int, str], list[int]] = {}  # (the rule's number, its spec) -> matches
    draws: dict[tuple[str, str], dict[int, str]] = {}
    expected: dict[tuple, str] = {}
    seen_paths: dict[tuple, str] = {}
    for fault in faults:
        if not fault.spec or not fault.match:
            raise ReplayError(f"fault #{fault.seq} does not say which match it was: a journal "
                              "from before replay existed cannot be replayed")
        if fault.rule == "chaos":
            draws.setdefault((fault.point, fault.moment), {})[fault.match] = fault.spec
            expected[("chaos", fault.point, fault.moment, fault.match)] = fault.path
        else:
            number = int(fault.rule[1:]) if fault.rule[1:].isdigit() else 0
            fired.setdefault((number, fault.spec), []).append(fault.match)
            seen_paths[(number, fault.spec, fault.match)] = fault.path
    rules = []
    for (number, spec), matches in sorted(fired.items()):
        try:
            rule = parse_rule(spec)
        except RuleError as err:
            raise ReplayError(f"rule r{number} ({spec!r}): {err}") from None
        index = len(rules)
        rules.append(rule.replace(**RESET_TRIGGERS).replace(at=tuple(sorted(set(matches)))))
        for match in matches:
            expected[(index, match)] = seen_paths[(number, spec, match)]
    plan = ReplayPlan(rules, Script(draws), run_id, len(faults), expected)
    return plan, warnings
