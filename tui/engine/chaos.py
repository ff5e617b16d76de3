"""Chaos: faults drawn at random at every fault point, the same ones again for the same seed.

Every time the server asks the board whether something fires at a point (a reply at a
command point, a transfer's start, a transfer's end), chaos counts that *turn* of the
point and, with probability P, draws a fault suited to the point and the moment from its
catalogue. The draw depends on the seed, the point, the moment and the turn's number only:
never on time, nor on other rules (a turn counts even when a rule decided it). So the same
seed and the same client behaviour give the same faults in the same places.

A ``Script`` plays back the draws a journal recorded (``ftpfault replay``): the same
turns, the same faults, whatever the seed.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .points import RuleError
from .rules import Rule, parse_rule

START, END, COMMAND = "start", "end", "command"  # when a point is asked (see the module text)
MOMENTS = (START, END, COMMAND)

FAMILIES = ("code", "cut", "rate", "delay", "drop", "reset", "stall", "shape", "data")
DEFAULT_FAMILIES = ("code", "cut", "delay", "drop", "reset", "shape", "data")
DEFAULT_POINTS = ("upload", "download", "list", "upload-start", "download-start", "list-start",
                  "login", "data")
CHAOS_POINTS = (*DEFAULT_POINTS, "connect")

Context = dict  # what a draw may need: size (a download's), command
Template = Callable[[random.Random, Context], str]


def _delay(point: str) -> Template:
    return lambda rng, ctx: f"{point},delay={rng.uniform(0.2, 1.5):.2f}"


def _catalogue() -> dict[tuple[str, str], list[tuple[str, Template]]]:
    """(point, moment) -> (family, template) for every fault chaos may draw there. None of
    them sends an extra reply or removes data: chaos keeps one final reply per command and
    every byte a client uploaded."""
    table: dict[tuple[str, str], list[tuple[str, Template]]] = {}
    for point, codes in (("upload", (426, 451, 452)), ("download", (426, 450, 451)),
                         ("list", (426, 451))):
        table[point, END] = [
            *(("code", lambda rng, ctx, p=point, c=code: f"{p}={c}") for code in codes),
            ("delay", _delay(point)),
            ("drop", lambda rng, ctx, p=point: f"{p}=426,drop"),
            ("reset", lambda rng, ctx, p=point: f"{p},reset"),
            ("stall", lambda rng, ctx, p=point: f"{p},stall"),
            ("shape", lambda rng, ctx, p=point: f"{p},multiline"),
            ("shape", lambda rng, ctx, p=point: f"{p},lf"),
        ]
    table["upload", START] = [
        ("cut", lambda rng, ctx: f"upload=426,after={rng.randrange(1, 1 << 20)}"),
        ("rate", lambda rng, ctx: f"upload,rate={rng.choice((262144, 1048576))}")]
    table["download", START] = [
        ("cut", lambda rng, ctx: f"download=426,after={rng.randrange(max(1, ctx.get('size', 0)))}"),
        ("rate", lambda rng, ctx: f"download,rate={rng.choice((262144, 1048576))}")]
    for point in ("upload-start", "download-start", "list-start"):
        table[point, COMMAND] = [
            *(("code", lambda rng, ctx, p=point, c=code: f"{p}={c}") for code in (425, 450, 550)),
            ("delay", _delay(point)),
            ("drop", lambda rng, ctx, p=point: f"{p}=421,drop"),
            ("reset", lambda rng, ctx, p=point: f"{p},reset"),
            ("stall", lambda rng, ctx, p=point: f"{p},stall")]
    table["login", COMMAND] = [
        ("code", lambda rng, ctx: "login=530"), ("drop", lambda rng, ctx: "login=421,drop"),
        ("delay", _delay("login")), ("reset", lambda rng, ctx: "login,reset"),
        ("stall", lambda rng, ctx: "login,stall"), ("shape", lambda rng, ctx: "login,multiline")]
    table["data", COMMAND] = [
        ("code", lambda rng, ctx: "data=425"), ("drop", lambda rng, ctx: "data=421,drop"),
        ("delay", _delay("data")), ("reset", lambda rng, ctx: "data,reset"),
        ("stall", lambda rng, ctx: "data,stall"),
        ("data", lambda rng, ctx: "data,accept=close"), ("data", lambda rng, ctx: "data,port=refused")]
    table["connect", COMMAND] = [
        ("code", lambda rng, ctx: "connect=421"), ("delay", _delay("connect")),
        ("reset", lambda rng, ctx: "connect,reset"), ("stall", lambda rng, ctx: "connect,stall")]
    return table


CATALOGUE = _catalogue()
PASSIVE = ("PASV", "EPSV")  # the data commands a passive port's faults (data family) apply to


def check(points: Iterable[str], families: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Points and families as given, checked; ValueError names a wrong one."""
    points, families = tuple(points), tuple(families)
    for name, known, what in ((points, CHAOS_POINTS, "chaos point"), (families, FAMILIES, "chaos fault")):
        wrong = [n for n in name if n not in known]
        if wrong or not name:
            raise ValueError(f"{(wrong or [''])[0]!r} is not a {what} (known: {', '.join(known)})")
    return points, families


@dataclass
class Draw:
    """What chaos drew at a turn (None: nothing)."""

    rule: Rule | None
    turn: int


class Chaos:
    """Random faults at probability ``probability`` (0 < P <= 1); ``enabled`` switches them."""

    def __init__(self, probability: float, seed: int, points: Iterable[str] = DEFAULT_POINTS,
                 families: Iterable[str] = DEFAULT_FAMILIES, enabled: bool = True) -> None:
        if not 0 < probability <= 1:
            raise ValueError(f"chaos probability {probability}: must be in (0, 1]")
        self.probability = probability
        self.seed = seed
        self.points, self.families = check(points, families)
        self.enabled = enabled
        self._turns: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"{self.probability:.0%} seed {self.seed}"

    def to_json(self) -> dict:
        return {"enabled": self.enabled, "probability": self.probability, "seed": self.seed,
                "points": list(self.points), "faults": list(self.families)}

    def turn(self, points: Iterable[str], moment: str, context: Context, drawing: bool) -> Draw | None:
        """Count a turn of each chaos point among ``points`` at ``moment``; the fault drawn at
        the first one, if ``drawing`` (no rule decided the reply) and the dice say so."""
        drawn = None
        for point in points:
            if point not in self.points or (point, moment) not in CATALOGUE:
                continue
            with self._lock:
                self._turns[point, moment] += 1
                number = self._turns[point, moment]
            if drawn is None and drawing and self.enabled:
                drawn = Draw(self.pick(point, moment, number, context), number)
        return drawn

    def pick(self, point: str, moment: str, number: int, context: Context) -> Rule | None:
        rng = random.Random(f"{self.seed}:chaos:{point}:{moment}:{number}")
        if rng.random() >= self.probability:
            return None
        choices = [(f, t) for f, t in CATALOGUE[point, moment] if f in self.families
                   and (f != "data" or context.get("command") in PASSIVE)]
        if not choices:
            return None
        family, template = choices[rng.randrange(len(choices))]
        return drawn_rule(template(rng, context), point, moment, number)


class Script:
    """The draws of a recorded run, played back turn by turn: ``{(point, moment): {turn:
    spec}}``; every other turn draws nothing."""

    def __init__(self, draws: dict[tuple[str, str], dict[int, str]]) -> None:
        self.draws = draws
        self.points = tuple(sorted({point for point, _ in draws}))
        self.enabled = True
        self.probability = 0.0
        self.seed = None
        self._turns: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"replay of {sum(len(d) for d in self.draws.values())} draws"

    def to_json(self) -> dict:
        return {"enabled": self.enabled, "replay": [
            {"point": p, "moment": m, "turn": n, "spec": spec}
            for (p, m), turns in sorted(self.draws.items()) for n, spec in sorted(turns.items())]}

    def turn(self, points: Iterable[str], moment: str, context: Context, drawing: bool) -> Draw | None:
        drawn = None
        for point in points:
            if (point, moment) not in self.draws:
                continue
            with self._lock:
                self._turns[point, moment] += 1
                number = self._turns[point, moment]
            spec = self.draws[point, moment].get(number)
            if drawn is None:
                drawn = Draw(drawn_rule(spec, point, moment, number) if drawing and spec else None,
                             number)
        return drawn

    def unplayed(self) -> list[tuple[str, str, int, str]]:
        """The draws whose turn never came: (point, moment, turn, spec)."""
        with self._lock:
            return [(p, m, n, spec) for (p, m), turns in sorted(self.draws.items())
                    for n, spec in sorted(turns.items()) if n > self._turns[p, m]]


def drawn_rule(spec: str, point: str, moment: str, number: int) -> Rule:
    try:
        return parse_rule(spec).replace(id="chaos", drawn=(point, moment, number))
    except RuleError as err:  # a catalogue or a journal that does not parse: a bug to see
        raise ValueError(f"chaos drew {spec!r}: {err}") from None
