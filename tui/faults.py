"""Fault rules, their grammar, and the board they live on.

The board is the only thing the UI (or a script) and the server thread share: the UI
replaces whole immutable rules, the server asks the board at the moment a reply is due
whether a rule fires. Nothing here knows about pyftpdlib or Textual.

One grammar everywhere (command line, console, profiles, control API)::

    POINT[=CODE[:MESSAGE]][,OPTION...]

    upload=451,times=1            fail the next upload once, then succeed
    download=426,after=100000     cut the download after 100000 bytes, then reply 426
    cmd:NOOP,delay=2              answer NOOP two seconds late
    'upload=452:Quota exceeded,chance=0.3'
"""

from __future__ import annotations

import dataclasses
import fnmatch
import posixpath
import random
import re
import threading
from collections.abc import Callable, Iterable
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

# Verbs a cmd:VERB point may name (RFC 959, 2228, 2389, 2428, 3659 and common X-forms).
FTP_VERBS = frozenset(
    "ABOR ACCT ALLO APPE AUTH CCC CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MFMT MKD MLSD "
    "MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR RNTO "
    "SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD".split()
)

COMPLETION, START, COMMAND = "completion", "start", "command"


@dataclass(frozen=True)
class Point:
    """A moment in an FTP exchange where a fault can be injected."""

    name: str
    kind: str  # COMPLETION: replaces the final 226; START: replaces 150/125; COMMAND
    commands: tuple[str, ...]
    default_code: int
    description: str


POINTS: dict[str, Point] = {
    p.name: p
    for p in (
        Point("upload", COMPLETION, ("STOR", "APPE", "STOU"), 426,
              "final reply of STOR/APPE/STOU (instead of 226)"),
        Point("download", COMPLETION, ("RETR",), 426, "final reply of RETR (instead of 226)"),
        Point("list", COMPLETION, ("LIST", "NLST", "MLSD"), 426,
              "final reply of LIST/NLST/MLSD (instead of 226)"),
        Point("upload-start", START, ("STOR", "APPE", "STOU"), 425,
              "reply to STOR/APPE/STOU instead of 150 (no file is created)"),
        Point("download-start", START, ("RETR",), 425, "reply to RETR instead of 150"),
        Point("list-start", START, ("LIST", "NLST", "MLSD"), 425,
              "reply to LIST/NLST/MLSD instead of 150"),
        Point("login", COMMAND, ("PASS",), 530, "reply to PASS"),
        Point("data", COMMAND, ("PASV", "EPSV", "PORT", "EPRT"), 425,
              "reply to PASV/EPSV/PORT/EPRT"),
    )
}
CMD_PREFIX = "cmd:"
CMD_DEFAULT_CODE = 550
CMD_POINT_HELP = ("cmd:VERB", "reply to any command, e.g. cmd:CWD=550, cmd:RNTO=553")

# What each option of a rule does: one text for --help and the console's help screen.
ACTION_HELP: tuple[tuple[str, str], ...] = (
    ("after=BYTES", "cut the data connection after BYTES, then reply CODE (426)"),
    ("rate=BYTES/S", "throttle the transfer"),
    ("delay=SECONDS", "send the reply that much later"),
    ("stall", "never answer the command"),
    ("drop", "reply 421 and close the control connection"),
    ("reset", "close the control connection with a TCP reset"),
    ("keep=no", "an upload fault removes the received file"),
)
TRIGGER_HELP: tuple[tuple[str, str], ...] = (
    ("times=N", "fire on the next N matches, then disarm"),
    ("every=N", "fire on every Nth match"),
    ("chance=P", "fire with probability P (the same sequence for the same --seed)"),
    ("path=GLOB", "only for files whose name matches GLOB"),
    ("user=NAME", "only for sessions logged in as NAME"),
)

# Which points a command can trigger before it runs (beside cmd:VERB).
COMMAND_POINTS: dict[str, tuple[str, ...]] = {}
for _p in POINTS.values():
    if _p.kind != COMPLETION:
        for _c in _p.commands:
            COMMAND_POINTS.setdefault(_c, ())
            COMMAND_POINTS[_c] += (_p.name,)
# Which completion point a transfer command's final reply belongs to.
COMPLETION_POINTS = {c: p.name for p in POINTS.values() if p.kind == COMPLETION for c in p.commands}


class RuleError(ValueError):
    """A fault spec that cannot be understood; the message names the bad part."""


def point_info(name: str) -> Point:
    """The Point for a name, cmd:VERB included; RuleError for an unknown one."""
    if name in POINTS:
        return POINTS[name]
    if name.startswith(CMD_PREFIX):
        verb = name[len(CMD_PREFIX):]
        if verb not in FTP_VERBS:
            raise RuleError(f"unknown FTP verb {verb!r} in {name!r}")
        return Point(name, COMMAND, (verb,), CMD_DEFAULT_CODE, f"reply to {verb}")
    known = ", ".join([*POINTS, "cmd:VERB"])
    raise RuleError(f"unknown fault point {name!r} (known: {known})")


def default_message(code: int) -> str:
    if code in STANDARD_MESSAGES:
        return STANDARD_MESSAGES[code]
    if 400 <= code < 500:
        return "Requested action not taken (transient error)."
    return "Requested action not taken."


@dataclass(frozen=True)
class Rule:
    """One fault. ``code`` None keeps the normal reply (a pure delay or rate rule)."""

    point: str
    code: int | None = None
    message: str | None = None
    # actions
    after: int | None = None  # cut the data connection after this many bytes
    rate: int | None = None  # throttle the transfer to this many bytes per second
    delay: float | None = None  # send the reply this many seconds late
    stall: bool = False  # never answer
    drop: bool = False  # reply 421 (or CODE) and close the control connection
    reset: bool = False  # close the control connection with a TCP reset
    keep: bool = True  # upload faults: keep the received bytes (False: remove the file)
    # triggers
    times: int | None = None  # the next N matches, then the rule disarms itself
    every: int | None = None  # every Nth match
    chance: float | None = None  # each match with probability P
    path: str | None = None  # glob on the file name (or on the path)
    user: str | None = None  # only this login name
    # state
    enabled: bool = True
    id: str = ""

    @property
    def reply_code(self) -> int | None:
        """The code this rule answers with (421 for a drop without a code)."""
        if self.code is None and self.drop:
            return 421
        return self.code

    @property
    def text(self) -> str:
        """The message sent after the code."""
        code = self.reply_code
        return self.message or (default_message(code) if code else "")

    @property
    def reply(self) -> str | None:
        code = self.reply_code
        return f"{code} {self.text}" if code else None

    @property
    def kind(self) -> str:
        return point_info(self.point).kind

    @property
    def spec(self) -> str:
        """The rule in the grammar parse_rule() reads (parse_rule(r.spec) == r, minus id)."""
        head = self.point
        if self.code is not None:
            head += f"={self.code}"
            if self.message:
                head += f":{self.message}"
        return ",".join([head, *self.options()])

    def options(self) -> list[str]:
        opts = []
        for name in ("after", "rate", "delay"):
            value = getattr(self, name)
            if value is not None:
                opts.append(f"{name}={_number(value)}")
        opts += [flag for flag in ("stall", "drop", "reset") if getattr(self, flag)]
        if not self.keep:
            opts.append("keep=no")
        for name in ("times", "every", "chance", "path", "user"):
            value = getattr(self, name)
            if value is not None:
                opts.append(f"{name}={_number(value)}")
        return opts

    def describe_trigger(self) -> str:
        parts = []
        if self.times is not None:
            parts.append(f"next {self.times}" if self.times > 1 else "once")
        if self.every is not None:
            parts.append(f"every {self.every}")
        if self.chance is not None:
            parts.append(f"{self.chance:.0%} chance")
        if self.path is not None:
            parts.append(f"path {self.path}")
        if self.user is not None:
            parts.append(f"user {self.user}")
        return ", ".join(parts) or "always"

    def describe_action(self) -> str:
        parts = []
        if self.after is not None:
            parts.append(f"cut after {self.after} B")
        if self.rate is not None:
            parts.append(f"{self.rate} B/s")
        if self.delay is not None:
            parts.append(f"{_number(self.delay)} s late")
        if self.stall:
            parts.append("never answer")
        elif self.reset:
            parts.append("TCP reset")
        else:
            code = self.reply_code
            parts.append(f"reply {code}" if code else "normal reply")
            if self.drop:
                parts.append("hang up")
        if not self.keep:
            parts.append("remove file")
        return ", ".join(parts)

    def matches(self, path: str, user: str) -> bool:
        """Whether the path and user filters let this rule apply."""
        if self.user is not None and user != self.user:
            return False
        if self.path is not None and path:
            return fnmatch.fnmatchcase(posixpath.basename(path), self.path) or fnmatch.fnmatchcase(
                path, self.path)
        return self.path is None

    def replace(self, **changes) -> Rule:
        return dataclasses.replace(self, **changes)


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def parse_code(text: str) -> int:
    """A reply code a fault may send: any 4xx or 5xx."""
    text = text.strip()
    if not (len(text) == 3 and text.isdigit()):
        raise RuleError(f"code {text!r} is not a three-digit reply code")
    code = int(text)
    if not 400 <= code <= 599:
        raise RuleError(f"code {code} is not a 4xx/5xx error reply")
    return code


def _int(name: str, text: str, minimum: int) -> int:
    if not re.fullmatch(r"\d+", text):
        raise RuleError(f"{name}={text!r}: not a whole number")
    value = int(text)
    if value < minimum:
        raise RuleError(f"{name}={value}: must be at least {minimum}")
    return value


def _float(name: str, text: str, low: float, high: float | None = None) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RuleError(f"{name}={text!r}: not a number") from None
    if not (low < value and (high is None or value <= high)) or value != value:
        bound = f"in ({low}, {high}]" if high is not None else f"above {low}"
        raise RuleError(f"{name}={text}: must be {bound}")
    return value


def _text(name: str, text: str) -> str:
    if not text:
        raise RuleError(f"{name}= needs a value")
    return text


_OPTION_PARSERS: dict[str, Callable[[str], object]] = {
    "after": lambda v: _int("after", v, 0),
    "rate": lambda v: _int("rate", v, 1),
    "delay": lambda v: _float("delay", v, 0.0, 3600.0),
    "times": lambda v: _int("times", v, 1),
    "every": lambda v: _int("every", v, 1),
    "chance": lambda v: _float("chance", v, 0.0, 1.0),
    "path": lambda v: _text("path", v),
    "user": lambda v: _text("user", v),
}
_FLAGS = ("stall", "drop", "reset")
_OPTION_NAME = re.compile(r"\s*([A-Za-z][A-Za-z-]*)\s*(=|$)")


def _looks_like_option(part: str) -> bool:
    """After a message, whether a comma starts the options: NAME=... or a bare option name
    (so "Disk full, sorry" stays one message and "...,after" still says after needs a value)."""
    found = _OPTION_NAME.match(part)
    if found is None:
        return False
    name = found.group(1).lower()
    return found.group(2) == "=" or name in _FLAGS or name in _OPTION_PARSERS or name == "keep"


def parse_rule(spec: str) -> Rule:
    """Parse ``POINT[=CODE[:MESSAGE]][,OPTION...]``; RuleError names the bad part."""
    text = spec.strip()
    if not text:
        raise RuleError("empty fault spec")
    parts = text.split(",")
    head, options = parts[0], []
    for part in parts[1:]:
        if not options and ":" in head and not _looks_like_option(part):
            head += "," + part  # a comma inside the message
        else:
            options.append(part)
    point, sep, rest = head.partition("=")
    point = point.strip().lower()
    if point.startswith(CMD_PREFIX):
        point = CMD_PREFIX + point[len(CMD_PREFIX):].upper()
    info = point_info(point)
    fields: dict[str, object] = {}
    if sep:
        code_text, has_message, message = rest.partition(":")
        fields["code"] = parse_code(code_text)
        message = message.strip()
        if has_message and not message:
            raise RuleError("empty message after ':'")
        if any(ch in message for ch in "\r\n"):
            raise RuleError("the message must be a single line")
        fields["message"] = message or None
    for option in options:
        name, has_value, value = option.strip().partition("=")
        name, value = name.strip().lower(), value.strip()
        if name in fields:
            raise RuleError(f"option {name!r} given twice")
        if name in _FLAGS:
            if has_value:
                raise RuleError(f"{name} takes no value")
            fields[name] = True
        elif name == "keep":
            if value not in ("yes", "no"):
                raise RuleError(f"keep={value!r}: must be yes or no")
            fields["keep"] = value == "yes"
        elif name in _OPTION_PARSERS:
            if not has_value:
                raise RuleError(f"{name} needs a value ({name}=...)")
            fields[name] = _OPTION_PARSERS[name](value)
        else:
            raise RuleError(f"unknown option {name!r}")
    return validate(Rule(point=point, **fields), info)


def validate(rule: Rule, info: Point | None = None) -> Rule:
    """Check that a rule's parts fit together; fill in the default code."""
    info = info or point_info(rule.point)
    flags = [f for f in _FLAGS if getattr(rule, f)]
    if len(flags) > 1:
        raise RuleError(f"{' and '.join(flags)} cannot be combined")
    if rule.after is not None and rule.point not in ("upload", "download"):
        raise RuleError("after= applies to the upload and download points")
    if rule.rate is not None and info.kind != COMPLETION:
        raise RuleError("rate= applies to the upload, download and list points")
    if not rule.keep and rule.point != "upload":
        raise RuleError("keep=no applies to the upload point")
    if rule.code is not None and (rule.stall or rule.reset):
        raise RuleError(f"{flags[0]} sends no reply: drop the code")
    if rule.stall and rule.delay is not None:
        raise RuleError("stall never answers: delay= makes no sense with it")
    acts = rule.after is not None or rule.rate is not None or rule.delay is not None or flags
    if rule.code is None and (rule.after is not None or not rule.keep or not acts):
        # a bare point, a cut, or a removed upload replies with the point's default code
        rule = rule.replace(code=info.default_code)
    return rule


@dataclass(frozen=True)
class RuleStats:
    fired: int = 0
    matched: int = 0
    remaining: int | None = None  # of times=N; None when unlimited

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


class _State:
    __slots__ = ("fired", "matched", "remaining", "rng")

    def __init__(self, rule: Rule, seed: int | None, twin: int = 0) -> None:
        self.fired = 0
        self.matched = 0
        self.remaining = rule.times
        # one stream per rule, from the seed and the rule's own text (and which of identical
        # rules it is): adding, removing or reordering other rules never changes it
        self.rng = random.Random(f"{seed}:{rule.spec}:{twin}") if seed is not None else random.Random()


class FaultBoard:
    """The shared set of rules, safe to use from any thread.

    Rules are immutable and replaced whole; counters live here, under the lock.
    ``version`` grows on every change so a UI can redraw only when something changed.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._lock = threading.Lock()
        self._rules: dict[str, Rule] = {}
        self._state: dict[str, _State] = {}
        self._next_id = 1
        self.version = 0
        self.armed = 0  # how many rules are enabled: a lock-free "anything to do?" for hot paths

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

    def stats(self, rule_id: str) -> RuleStats:
        with self._lock:
            state = self._state[rule_id]
            return RuleStats(state.fired, state.matched, state.remaining)

    def fired(self, rule_id: str) -> int:
        return self.stats(rule_id).fired

    def armed_count(self) -> int:
        return self.armed

    def _changed(self) -> None:
        """Call under the lock after any change."""
        self.version += 1
        self.armed = sum(1 for r in self._rules.values() if r.enabled)

    # --- changing

    def add(self, rule: Rule | str) -> Rule:
        rule = parse_rule(rule) if isinstance(rule, str) else validate(rule)
        with self._lock:
            rule = rule.replace(id=f"r{self._next_id}")
            self._next_id += 1
            twin = sum(1 for r in self._rules.values() if r.spec == rule.spec)
            self._rules[rule.id] = rule
            self._state[rule.id] = _State(rule, self.seed, twin)
            self._changed()
            return rule

    def replace(self, rule_id: str, rule: Rule | str) -> Rule:
        """Put a new rule in an old one's place: same id and fired count; its times, every
        and chance start afresh."""
        rule = parse_rule(rule) if isinstance(rule, str) else validate(rule)
        with self._lock:
            if rule_id not in self._rules:
                raise KeyError(rule_id)
            rule = rule.replace(id=rule_id)
            fired = self._state[rule_id].fired
            self._rules[rule_id] = rule
            self._state[rule_id] = _State(rule, self.seed)
            self._state[rule_id].fired = fired
            self._changed()
            return rule

    def update(self, rule_id: str, **changes) -> Rule:
        """Change some fields; arming a rule whose times ran out gives it its times again."""
        with self._lock:
            old = self._rules[rule_id]
            rule = validate(old.replace(**changes))
            state = self._state[rule_id]
            if rule.times != old.times or (rule.enabled and not old.enabled and state.remaining == 0):
                state.remaining = rule.times
            self._rules[rule_id] = rule
            self._changed()
            return rule

    def remove(self, rule_id: str) -> None:
        with self._lock:
            del self._rules[rule_id]
            del self._state[rule_id]
            self._changed()

    def disarm_all(self) -> None:
        with self._lock:
            for rule_id, rule in self._rules.items():
                self._rules[rule_id] = rule.replace(enabled=False)
            self._changed()

    def clear(self) -> None:
        """No rules at all (ids keep growing, so an old id never means a new rule)."""
        with self._lock:
            self._rules.clear()
            self._state.clear()
            self._changed()

    # --- the server's side

    def candidates(self, points: str | Iterable[str], path: str = "", user: str = "") -> list[Rule]:
        """Armed rules at these points whose path/user filters pass; nothing is counted."""
        points = {points} if isinstance(points, str) else set(points)
        with self._lock:
            return [r for r in self._rules.values()
                    if r.enabled and r.point in points and r.matches(path, user)]

    def fire(self, rule: Rule) -> bool:
        """Count a match of ``rule`` and say whether it fires now (every, chance, times).
        A rule whose times run out disarms itself."""
        with self._lock:
            current = self._rules.get(rule.id)
            if current is None or not current.enabled:
                return False
            state = self._state[rule.id]
            state.matched += 1
            if current.every is not None and state.matched % current.every:
                return False
            if current.chance is not None and state.rng.random() >= current.chance:
                return False
            state.fired += 1
            if state.remaining is not None:
                state.remaining -= 1
                if state.remaining <= 0:
                    self._rules[rule.id] = current.replace(enabled=False)
            self._changed()
            return True

    def match(self, points: str | Iterable[str], path: str = "", user: str = "",
              eligible: Callable[[Rule], bool] | None = None) -> Rule | None:
        """The first rule at these points that fires now, counted as fired; None if none does."""
        for rule in self.candidates(points, path, user):
            if (eligible is None or eligible(rule)) and self.fire(rule):
                return rule
        return None
