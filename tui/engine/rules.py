"""A fault rule, and the one table of the options a rule can have.

One grammar everywhere (command line, console, profiles, control API)::

    POINT[=CODE[:MESSAGE]][,OPTION...]

    upload=451,times=1            fail the next upload once, then succeed
    download=426,after=100000     cut the download after 100000 bytes, then reply 426
    cmd:NOOP,delay=2              answer NOOP two seconds late
    'upload=452:Quota exceeded,chance=0.3'

Every option is one entry of ``OPTIONS``: its name, what it does, how it reads from a spec
line and from a typed field (a profile's TOML, the API's JSON), and how it reads back.
Parsing, ``Rule.spec``, ``--help``, the help screen, the rule form and profiles all read
that table; adding an option is adding an entry (and a field of ``Rule``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .points import (
    CMD_PREFIX, COMMAND, COMPLETION, Point, RuleError, default_message, parse_code, point_info,
)

ACTION, TRIGGER = "action", "trigger"
MAX_COUNT = 2**63 - 1  # the largest byte count, rate or number of matches a rule takes


@dataclass(frozen=True)
class Rule:
    """One fault. ``code`` None keeps the normal reply (a pure delay or rate rule).
    The option fields are described, once, in ``OPTIONS``."""

    point: str
    code: int | None = None
    message: str | None = None
    # actions
    after: int | None = None
    rate: int | None = None
    delay: float | None = None
    stall: bool = False
    drop: bool = False
    reset: bool = False
    keep: bool = True
    # triggers
    times: int | None = None
    every: int | None = None
    chance: float | None = None
    path: str | None = None
    user: str | None = None
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
        """The options in spec form, in table order."""
        return [text for option in OPTIONS.values()
                if (text := option.spec_part(getattr(self, option.name))) is not None]

    def describe_trigger(self) -> str:
        parts = [option.describe(getattr(self, option.name)) for option in TRIGGERS
                 if getattr(self, option.name) != option.default]
        return ", ".join(parts) or "always"

    def describe_action(self) -> str:
        parts = [OPTIONS[name].describe(getattr(self, name)) for name in ("after", "rate", "delay")
                 if getattr(self, name) is not None]
        if self.stall or self.reset:
            parts.append(OPTIONS["stall" if self.stall else "reset"].describe(True))
        else:
            code = self.reply_code
            parts.append(f"reply {code}" if code else "normal reply")
            if self.drop:
                parts.append(OPTIONS["drop"].describe(True))
        if not self.keep:
            parts.append(OPTIONS["keep"].describe(False))
        return ", ".join(parts)

    @property
    def shapes_only(self) -> bool:
        """Whether the rule only changes how fast a transfer runs, not how it ends."""
        return not (self.code is not None or self.delay is not None or self.stall or self.drop
                    or self.reset or not self.keep)

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


# --- the option table


@dataclass(frozen=True)
class Option:
    """One option of a rule: ``name`` is also the Rule field it sets."""

    name: str
    role: str  # ACTION or TRIGGER
    metavar: str  # what follows '=' in the help ("" for a flag)
    help: str  # one line, for --help, the help screen and the rule form
    from_text: Callable[[str, str], object]  # (name, text after '=') -> value; RuleError
    from_field: Callable[[str, object], object]  # (name, a TOML/JSON value) -> value
    to_text: Callable[[object], str | None]  # value -> what follows '=' (None: not written)
    describe: Callable[[object], str]  # value -> a few words for the console
    flag: bool = False  # written bare (``stall``), never ``stall=...``

    @property
    def default(self) -> object:
        return _FIELD_DEFAULTS[self.name]

    @property
    def title(self) -> str:
        """How the option is written in help texts: ``after=BYTES``, ``stall``."""
        return self.name if self.flag else f"{self.name}={self.metavar}"

    def spec_part(self, value: object) -> str | None:
        if value == self.default:
            return None
        if self.flag:
            return self.name
        return f"{self.name}={self.to_text(value)}"


def _whole(minimum: int) -> tuple[Callable, Callable]:
    def check(name: str, value: int) -> int:
        if value < minimum:
            raise RuleError(f"{name}={value}: must be at least {minimum}")
        if value > MAX_COUNT:
            raise RuleError(f"{name}: {str(value)[:12]}... is too large")
        return value

    def from_text(name: str, text: str) -> int:
        if not re.fullmatch(r"\d+", text):
            raise RuleError(f"{name}={text[:40]!r}: not a whole number")
        if len(text) > 19:
            raise RuleError(f"{name}: {text[:12]}... is too large")
        return check(name, int(text))

    def from_field(name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RuleError(f"{name} must be a whole number")
        return check(name, value)

    return from_text, from_field


def _real(low: float, high: float) -> tuple[Callable, Callable]:
    def check(name: str, value: float, shown: str) -> float:
        if not (low < value <= high):  # NaN fails both
            raise RuleError(f"{name}={shown}: must be in ({_number(low)}, {_number(high)}]")
        return value

    def from_text(name: str, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise RuleError(f"{name}={text[:40]!r}: not a number") from None
        return check(name, value, text[:40])

    def from_field(name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RuleError(f"{name} must be a number")
        if isinstance(value, int) and abs(value) > MAX_COUNT:
            raise RuleError(f"{name}: {str(value)[:12]}... is too large")
        return check(name, float(value), _number(value))

    return from_text, from_field


def _free_text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise RuleError(f"{name} must be a string")
    value = value.strip()
    if not value:
        raise RuleError("empty message" if name == "message" else f"{name}= needs a value")
    if any(ch in value for ch in "\r\n"):
        raise RuleError(f"the {name} must be a single line")
    return value


def _flag_text(name: str, text: str) -> bool:
    raise RuleError(f"{name} takes no value")


def _bool_field(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise RuleError(f"{name} must be true or false")
    return value


def _keep_text(name: str, text: str) -> bool:
    if text not in ("yes", "no"):
        raise RuleError(f"keep={text[:40]!r}: must be yes or no")
    return text == "yes"


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _times(n: int) -> str:
    return f"next {n}" if n > 1 else "once"


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("after", ACTION, "BYTES", "cut the data connection after BYTES, then reply CODE (426)",
           *_whole(0), str, lambda v: f"cut after {v} B"),
    Option("rate", ACTION, "BYTES/S", "throttle the transfer", *_whole(1), str, lambda v: f"{v} B/s"),
    Option("delay", ACTION, "SECONDS", "send the reply that much later", *_real(0.0, 3600.0),
           _number, lambda v: f"{_number(v)} s late"),
    Option("stall", ACTION, "", "never answer the command", _flag_text, _bool_field, str,
           lambda v: "never answer", flag=True),
    Option("drop", ACTION, "", "reply 421 and close the control connection", _flag_text,
           _bool_field, str, lambda v: "hang up", flag=True),
    Option("reset", ACTION, "", "close the control connection with a TCP reset", _flag_text,
           _bool_field, str, lambda v: "TCP reset", flag=True),
    Option("keep", ACTION, "no", "an upload fault removes the received file", _keep_text,
           _bool_field, lambda v: "yes" if v else "no", lambda v: "remove file"),
    Option("times", TRIGGER, "N", "fire on the next N matches, then disarm", *_whole(1), str, _times),
    Option("every", TRIGGER, "N", "fire on every Nth match", *_whole(1), str, lambda v: f"every {v}"),
    Option("chance", TRIGGER, "P", "fire with probability P (the same sequence for the same --seed)",
           *_real(0.0, 1.0), _number, lambda v: f"{v:.0%} chance"),
    Option("path", TRIGGER, "GLOB", "only for files whose name matches GLOB", _free_text,
           _free_text, str, lambda v: f"path {v}"),
    Option("user", TRIGGER, "NAME", "only for sessions logged in as NAME", _free_text, _free_text,
           str, lambda v: f"user {v}"),
)}
_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Rule)}
ACTIONS = tuple(o for o in OPTIONS.values() if o.role == ACTION)
TRIGGERS = tuple(o for o in OPTIONS.values() if o.role == TRIGGER)
FLAGS = tuple(o.name for o in OPTIONS.values() if o.flag)
# The fields a rule has in a profile or the API's fields form, beside its options.
HEAD_FIELDS = ("point", "code", "message", "enabled")
assert set(OPTIONS) | set(HEAD_FIELDS) | {"id"} == set(_FIELD_DEFAULTS), "Rule and OPTIONS disagree"


# --- reading rules


_OPTION_NAME = re.compile(r"\s*([A-Za-z][A-Za-z-]*)\s*(=|$)")


def _looks_like_option(part: str) -> bool:
    """After a message, whether a comma starts the options: NAME=... or a bare option name
    (so "Disk full, sorry" stays one message and "...,after" still says after needs a value)."""
    found = _OPTION_NAME.match(part)
    if found is None:
        return False
    return found.group(2) == "=" or found.group(1).lower() in OPTIONS


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
    fields: dict[str, object] = {"point": _point_name(point)}
    if sep:
        code_text, has_message, message = rest.partition(":")
        fields["code"] = parse_code(code_text)
        message = message.strip()
        if has_message and not message:
            raise RuleError("empty message after ':'")
        if any(ch in message for ch in "\r\n"):
            raise RuleError("the message must be a single line")
        fields["message"] = message or None
    for part in options:
        name, has_value, value = part.strip().partition("=")
        name, value = name.strip().lower(), value.strip()
        option = OPTIONS.get(name)
        if option is None:
            raise RuleError(f"unknown option {name[:40]!r}")
        if name in fields:
            raise RuleError(f"option {name!r} given twice")
        if option.flag and not has_value:
            fields[name] = True
        elif not has_value:
            raise RuleError(f"{name} needs a value ({name}=...)")
        else:
            fields[name] = option.from_text(name, value)
    return validate(Rule(**fields))


def rule_from_fields(data: Mapping) -> Rule:
    """A rule from ``{"spec": "..."}`` or from its fields (point, code, after, times, ...):
    the form of a profile's [[fault]] table and of the API's JSON. Free text (message, path,
    user) is taken as given, commas and all."""
    enabled = _bool_field("enabled", data.get("enabled", True))
    if "spec" in data:
        extra = sorted(set(data) - {"spec", "enabled"})
        if extra:
            raise RuleError(f"give a spec or fields, not both (also got {', '.join(extra)})")
        if not isinstance(data["spec"], str):
            raise RuleError("spec must be a string")
        return parse_rule(data["spec"]).replace(enabled=enabled)
    unknown = sorted(set(data) - set(OPTIONS) - set(HEAD_FIELDS))
    if unknown:
        raise RuleError(f"unknown field {unknown[0][:40]!r}")
    if not isinstance(data.get("point"), str):
        raise RuleError("a fault needs a point (or a spec)")
    fields: dict[str, object] = {"point": _point_name(data["point"]), "enabled": enabled}
    if "code" in data:
        code = data["code"]
        if isinstance(code, bool) or not isinstance(code, int):
            raise RuleError("code must be a number like 451")
        if not 0 <= code <= 999:
            raise RuleError("code must be a three-digit reply code like 451")
        fields["code"] = parse_code(str(code))
    if "message" in data:
        if "code" not in data:
            raise RuleError("a message needs a code")
        fields["message"] = _free_text("message", data["message"])
    for name, option in OPTIONS.items():
        if name in data:
            fields[name] = option.from_field(name, data[name])
    return validate(Rule(**fields))


def rule_to_fields(rule: Rule) -> dict:
    """The fields form of a rule (what rule_from_fields reads), without defaults."""
    fields: dict = {"point": rule.point}
    for name in ("code", "message", *OPTIONS):
        if getattr(rule, name) != _FIELD_DEFAULTS[name]:
            fields[name] = getattr(rule, name)
    return fields


def _point_name(text: str) -> str:
    point = text.strip().lower()
    if point.startswith(CMD_PREFIX):
        point = CMD_PREFIX + point[len(CMD_PREFIX):].upper()
    point_info(point)  # RuleError for an unknown one
    return point


def validate(rule: Rule, info: Point | None = None) -> Rule:
    """Check that a rule's parts fit together; fill in the default code."""
    info = info or point_info(rule.point)
    flags = [f for f in FLAGS if getattr(rule, f)]
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


__all__ = ["ACTION", "ACTIONS", "COMMAND", "OPTIONS", "TRIGGER", "TRIGGERS", "Option", "Rule",
           "RuleError", "parse_rule", "rule_from_fields", "rule_to_fields", "validate"]
