"""Fault rules and the board they live on.

The board is the only thing the UI (or a script) and the server thread share: the UI
replaces whole immutable rules, the server asks the board at the moment a reply is due
whether a rule fires. Nothing here knows about pyftpdlib or Textual.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass

# Standard texts (RFC 959 and friends) used when a rule gives no message of its own.
STANDARD_MESSAGES: dict[int, str] = {
    421: "Service not available, closing control connection.",
    425: "Can't open data connection.",
    426: "Connection closed; transfer aborted.",
    450: "Requested file action not taken. File unavailable.",
    451: "Requested action aborted: local error in processing.",
    452: "Requested action not taken. Insufficient storage space in system.",
    500: "Syntax error, command unrecognized.",
    501: "Syntax error in parameters or arguments.",
    502: "Command not implemented.",
    503: "Bad sequence of commands.",
    504: "Command not implemented for that parameter.",
    530: "Not logged in.",
    532: "Need account for storing files.",
    550: "Requested action not taken. File unavailable.",
    551: "Requested action aborted: page type unknown.",
    552: "Requested file action aborted. Exceeded storage allocation.",
    553: "Requested action not taken. File name not allowed.",
}

# The codes offered by the pickers and the 1..5 keys, in key order.
PICKER_CODES: tuple[int, ...] = (425, 426, 450, 451, 452)


@dataclass(frozen=True)
class Point:
    """A moment in an FTP exchange where a fault can be injected."""

    name: str
    commands: tuple[str, ...]
    default_code: int
    description: str


POINTS: dict[str, Point] = {
    p.name: p
    for p in (
        Point(
            "upload",
            ("STOR", "APPE", "STOU"),
            426,
            "final reply of STOR/APPE/STOU (instead of 226); the bytes stay on disk",
        ),
        Point("download", ("RETR",), 426, "final reply of RETR (instead of 226)"),
    )
}


class RuleError(ValueError):
    """A fault spec that cannot be understood; the message names the bad part."""


def default_message(code: int) -> str:
    if code in STANDARD_MESSAGES:
        return STANDARD_MESSAGES[code]
    if 400 <= code < 500:
        return "Requested action not taken (transient error)."
    return "Requested action not taken."


@dataclass(frozen=True)
class Rule:
    """One fault: at POINT reply CODE (with MESSAGE) instead of the normal reply."""

    point: str
    code: int
    message: str | None = None
    enabled: bool = True
    id: str = ""

    @property
    def text(self) -> str:
        """The message sent after the code."""
        return self.message or default_message(self.code)

    @property
    def reply(self) -> str:
        return f"{self.code} {self.text}"

    @property
    def spec(self) -> str:
        """The rule in the grammar parse_rule() reads (round-trips)."""
        spec = f"{self.point}={self.code}"
        if self.message:
            spec += f":{self.message}"
        return spec

    def replace(self, **changes) -> Rule:
        return dataclasses.replace(self, **changes)


def parse_code(text: str) -> int:
    """A reply code a fault may send: any 4xx or 5xx."""
    text = text.strip()
    if not (len(text) == 3 and text.isdigit()):
        raise RuleError(f"code {text!r} is not a three-digit reply code")
    code = int(text)
    if not 400 <= code <= 599:
        raise RuleError(f"code {code} is not a 4xx/5xx error reply")
    return code


def parse_rule(spec: str) -> Rule:
    """Parse POINT[=CODE[:MESSAGE]], e.g. ``upload=451`` or ``download=426:Nope``."""
    text = spec.strip()
    if not text:
        raise RuleError("empty fault spec")
    point, sep, rest = text.partition("=")
    point = point.strip().lower()
    if point not in POINTS:
        known = ", ".join(POINTS)
        raise RuleError(f"unknown fault point {point!r} (known: {known})")
    if not sep:
        return Rule(point=point, code=POINTS[point].default_code)
    code_text, has_message, message = rest.partition(":")
    code = parse_code(code_text)
    message = message.strip()
    if has_message and not message:
        raise RuleError("empty message after ':'")
    if any(ch in message for ch in "\r\n"):
        raise RuleError("the message must be a single line")
    return Rule(point=point, code=code, message=message or None)


class FaultBoard:
    """The shared set of rules, safe to use from any thread.

    Rules are immutable and replaced whole; counters live here, under the lock.
    ``version`` grows on every change so a UI can redraw only when something changed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: dict[str, Rule] = {}
        self._fired: dict[str, int] = {}
        self._next_id = 1
        self.version = 0

    # --- reading

    def rules(self) -> list[Rule]:
        with self._lock:
            return list(self._rules.values())

    def get(self, rule_id: str) -> Rule:
        with self._lock:
            return self._rules[rule_id]

    def first(self, point: str) -> Rule | None:
        """The first rule for a point (the one the quick keys act on)."""
        with self._lock:
            return next((r for r in self._rules.values() if r.point == point), None)

    def fired(self, rule_id: str) -> int:
        with self._lock:
            return self._fired.get(rule_id, 0)

    def armed_count(self) -> int:
        with self._lock:
            return sum(1 for r in self._rules.values() if r.enabled)

    # --- changing

    def add(self, rule: Rule | str) -> Rule:
        if isinstance(rule, str):
            rule = parse_rule(rule)
        with self._lock:
            rule = rule.replace(id=f"r{self._next_id}")
            self._next_id += 1
            self._rules[rule.id] = rule
            self._fired[rule.id] = 0
            self.version += 1
            return rule

    def update(self, rule_id: str, **changes) -> Rule:
        with self._lock:
            rule = self._rules[rule_id].replace(**changes)
            self._rules[rule_id] = rule
            self.version += 1
            return rule

    def remove(self, rule_id: str) -> None:
        with self._lock:
            del self._rules[rule_id]
            self._fired.pop(rule_id, None)
            self.version += 1

    def disarm_all(self) -> None:
        with self._lock:
            for rule_id, rule in self._rules.items():
                self._rules[rule_id] = rule.replace(enabled=False)
            self.version += 1

    # --- the server's side

    def match(self, point: str) -> Rule | None:
        """The rule that fires now at ``point``, counted as fired; None if none does."""
        with self._lock:
            for rule in self._rules.values():
                if rule.enabled and rule.point == point:
                    self._fired[rule.id] += 1
                    self.version += 1
                    return rule
        return None
