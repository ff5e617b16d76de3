"""A fault rule, and the one table of the options a rule can have.

One grammar everywhere (command line, console, profiles, control API)::

    POINT[=CODE[:MESSAGE]][,OPTION...]

    upload=451,times=1            fail the next upload once, then succeed
    download=426,after=100000     cut the download after 100000 bytes, then reply 426
    cmd:NOOP,delay=2              answer NOOP two seconds late
    'upload=452:Quota exceeded,chance=0.3'
    upload=426,extra=226          426, then a stray 226 the client reads as its next reply
    any=421,drop,for=30           an outage of the whole server for 30 seconds

Every option is one entry of ``OPTIONS``: its name, what it does, how it reads from a spec
line and from a typed field (a profile's TOML, the API's JSON), and how it reads back.
Parsing, ``Rule.spec``, ``--help``, the help screen, the rule form and profiles all read
that table; adding an option is adding an entry (and a field of ``Rule``).

How rules combine, the one law: at one reply, the armed rules of its points are asked in
board order. A rule that *decides* the reply (a code, ``drop``, ``stall``, ``reset``, a cut)
fires first come first served: once one fired, the other deciding rules are not asked
(nor counted). Every *shaping* rule (no code and none of those: ``rate``, ``delay``, reply
shapes, ``early``, data connection options) that fires acts beside it: the longest delay
and the slowest rate apply; any other option is taken from the first rule that has it,
the deciding rule first (``combine``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import ipaddress
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .points import (
    CMD_PREFIX, COMMAND, COMPLETION, GREETING, Point, RuleError, default_message, parse_code,
    point_info,
)

ACTION, SHAPE, DATA, TRIGGER = "action", "shape", "data", "trigger"
# The kinds of option in the order help texts show them, each with its heading.
ROLES = {ACTION: "actions", SHAPE: "reply shapes (the reply is valid, just unusual)",
         DATA: "data connection (the data point: PASV, EPSV)", TRIGGER: "triggers (all must hold)"}
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
    # reply shapes
    multiline: str | None = None  # "good" or "bad"
    lf: bool = False
    split: int | None = None
    extra: str | None = None  # "CODE" or "CODE:MESSAGE"
    early: bool = False
    # the data connection
    address: str | None = None
    port: str | None = None  # "refused"
    accept: str | None = None  # "never" or "close"
    tls: str | None = None  # "stall" or "reuse"
    # triggers
    times: int | None = None
    every: int | None = None
    chance: float | None = None
    duration: float | None = None  # for=SECONDS
    at: tuple[int, ...] | None = None  # the match numbers it fires on
    path: str | None = None
    user: str | None = None
    client: str | None = None
    session: int | None = None
    # state
    enabled: bool = True
    id: str = ""
    drawn: tuple[str, str, int] | None = None  # chaos drew it: (point, moment, turn)

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
    def extra_reply(self) -> str | None:
        """The unsolicited reply sent after this rule's reply (extra=)."""
        if self.extra is None:
            return None
        code, _, message = self.extra.partition(":")
        return f"{code} {message or default_message(int(code))}"

    @property
    def decides(self) -> bool:
        """Whether the rule decides the reply (a code, a hang-up, a reset, never answering);
        the others only shape it (see the law in the module's docstring)."""
        return self.reply_code is not None or self.stall or self.reset

    @property
    def shapes_reply(self) -> bool:
        """Whether the reply goes out other than as one CRLF-ended line, alone."""
        return self.multiline is not None or self.lf or self.split is not None or self.extra is not None

    @property
    def changes_reply(self) -> bool:
        """Whether the final reply of a transfer is not simply pyftpdlib's, at once."""
        return self.decides or self.delay is not None or self.shapes_reply or not self.keep

    @property
    def data_options(self) -> bool:
        return any(getattr(self, o.attr) is not None for o in DATA_OPTIONS)

    @property
    def kind(self) -> str:
        return point_info(self.point).kind

    @functools.cached_property  # a rule never changes (replace() makes a new one)
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
                if (text := option.spec_part(getattr(self, option.attr))) is not None]

    def describe_trigger(self) -> str:
        parts = [option.describe(getattr(self, option.attr)) for option in TRIGGERS
                 if getattr(self, option.attr) != option.default]
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
        parts += [option.describe(getattr(self, option.attr)) for option in (*SHAPES, *DATA_OPTIONS)
                  if getattr(self, option.attr) != option.default]
        return ", ".join(parts)

    def matches(self, path: str = "", user: str = "", client: str = "", session: int = 0) -> bool:
        """Whether the path, user, client and session filters let this rule apply."""
        if self.user is not None and user != self.user:
            return False
        if self.client is not None and not fnmatch.fnmatchcase(client, self.client):
            return False
        if self.session is not None and session != self.session:
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
    """One option of a rule: ``name`` is also the Rule field it sets, unless ``field`` says
    otherwise (``for`` is a Python keyword)."""

    name: str
    role: str  # ACTION, SHAPE, DATA or TRIGGER
    metavar: str  # what follows '=' in the help ("" for a flag)
    help: str  # one line, for --help, the help screen and the rule form
    from_text: Callable[[str, str], object]  # (name, text after '=') -> value; RuleError
    from_field: Callable[[str, object], object]  # (name, a TOML/JSON value) -> value
    to_text: Callable[[object], str | None]  # value -> what follows '=' (None: not written)
    describe: Callable[[object], str]  # value -> a few words for the console
    bare: object = None  # the value of the option written alone (stall: True); None: needs '='
    field: str = ""

    @property
    def attr(self) -> str:
        """The Rule field the option sets."""
        return self.field or self.name

    @property
    def flag(self) -> bool:
        """Written bare (``stall``), never ``stall=...``."""
        return self.bare is True

    @property
    def default(self) -> object:
        return _FIELD_DEFAULTS[self.attr]

    @property
    def title(self) -> str:
        """How the option is written in help texts: ``after=BYTES``, ``stall``, ``multiline[=bad]``."""
        if self.flag:
            return self.name
        if self.bare is not None:
            return f"{self.name}[={self.metavar}]"
        return f"{self.name}={self.metavar}"

    def spec_part(self, value: object) -> str | None:
        if value == self.default:
            return None
        if value == self.bare:
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


def _choice(*values: str) -> tuple[Callable, Callable]:
    def from_text(name: str, text: str) -> str:
        if text not in values:
            raise RuleError(f"{name}={text[:40]!r}: must be {' or '.join(values)}")
        return text

    def from_field(name: str, value: object) -> str:
        if not isinstance(value, str):
            raise RuleError(f"{name} must be {' or '.join(map(repr, values))}")
        return from_text(name, value)

    return from_text, from_field


def _multiline_field(name: str, value: object) -> str:
    return "good" if value is True else _choice("good", "bad")[1](name, value)


def _ipv4(name: str, text: object) -> str:
    if not isinstance(text, str):
        raise RuleError(f"{name} must be an IPv4 address")
    try:
        return str(ipaddress.IPv4Address(text.strip()))
    except ValueError:
        raise RuleError(f"{name}={text[:40]!r}: not an IPv4 address (PASV announces IPv4)") from None


def _extra_text(name: str, text: str) -> str:
    if any(ch in text for ch in "\r\n"):
        raise RuleError(f"the {name} reply must be a single line")
    code, sep, message = text.partition(":")
    try:
        code, message = str(parse_code(code)), message.strip()
    except RuleError as err:
        raise RuleError(f"{name}: {err}") from None
    if sep and not message:
        raise RuleError(f"{name}={text[:40]!r}: empty message after ':'")
    return f"{code}:{message}" if message else code


def _extra_field(name: str, value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RuleError(f"{name} must be a reply code like 226, or \"226:Message\"")
    return _extra_text(name, value)


def _number(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _times(n: int) -> str:
    return f"next {n}" if n > 1 else "once"


def _at_text(name: str, text: str) -> tuple[int, ...]:
    whole = _whole(1)[0]
    return _at_numbers(name, [whole(name, part.strip()) for part in text.split(",")])


def _at_field(name: str, value: object) -> tuple[int, ...]:
    whole = _whole(1)[1]
    values = value if isinstance(value, list) else [value]
    return _at_numbers(name, [whole(name, v) for v in values])


def _at_numbers(name: str, numbers: list[int]) -> tuple[int, ...]:
    if not numbers or len(numbers) > 10_000:
        raise RuleError(f"{name}= takes 1 to 10000 match numbers")
    return tuple(sorted(set(numbers)))


def _ordinals(numbers: tuple[int, ...]) -> str:
    shown = ", ".join(f"#{n}" for n in numbers[:5])
    return f"match {shown}" + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("after", ACTION, "BYTES", "cut the data connection after BYTES, then reply CODE (426)",
           *_whole(0), str, lambda v: f"cut after {v} B"),
    Option("rate", ACTION, "BYTES/S", "throttle the transfer", *_whole(1), str, lambda v: f"{v} B/s"),
    Option("delay", ACTION, "SECONDS", "send the reply that much later", *_real(0.0, 3600.0),
           _number, lambda v: f"{_number(v)} s late"),
    Option("stall", ACTION, "", "never answer the command", _flag_text, _bool_field, str,
           lambda v: "never answer", bare=True),
    Option("drop", ACTION, "", "reply 421 and close the control connection", _flag_text,
           _bool_field, str, lambda v: "hang up", bare=True),
    Option("reset", ACTION, "", "close the control connection with a TCP reset", _flag_text,
           _bool_field, str, lambda v: "TCP reset", bare=True),
    Option("keep", ACTION, "no", "an upload fault removes the received file", _keep_text,
           _bool_field, lambda v: "yes" if v else "no", lambda v: "remove file"),
    Option("multiline", SHAPE, "bad", "send the reply as a multi-line reply (bad: an empty first "
           "line, then an unpadded inner line with another code: valid, misread by many)",
           _choice("good", "bad")[0], _multiline_field, str,
           lambda v: f"{'bad ' if v == 'bad' else ''}multi-line",
           bare="good"),
    Option("lf", SHAPE, "", "end the reply's lines with a bare LF instead of CRLF", _flag_text,
           _bool_field, str, lambda v: "bare LF", bare=True),
    Option("split", SHAPE, "BYTES", "write the reply in pieces of BYTES, a short pause between them",
           *_whole(1), str, lambda v: f"in {v} B pieces"),
    Option("extra", SHAPE, "CODE[:MESSAGE]", "then an unsolicited second reply (the one option that "
           "breaks one reply per command, on purpose)", _extra_text, _extra_field, str,
           lambda v: f"then a stray {v.partition(':')[0]}"),
    Option("early", SHAPE, "", "download: the final reply goes out before the last bytes of "
           "data; the data close follows a moment later", _flag_text, _bool_field, str,
           lambda v: "reply before the last bytes", bare=True),
    Option("address", DATA, "HOST", "PASV announces HOST (IPv4) instead of the server's address "
           "(EPSV has no address)", lambda n, t: _ipv4(n, t), _ipv4, str,
           lambda v: f"PASV says {v}"),
    Option("port", DATA, "refused", "PASV/EPSV announce a port where nothing listens",
           *_choice("refused"), str, lambda v: "port refused"),
    Option("accept", DATA, "never|close", "the passive port never accepts (the client's connect "
           "waits in the backlog), or accepts and closes at once", *_choice("never", "close"),
           str, lambda v: f"accept {v}"),
    Option("tls", DATA, "stall|reuse", "with --tls and PROT P: the data connection's TLS "
           "handshake never completes, or one not resuming the control connection's TLS "
           "session is refused (425)", *_choice("stall", "reuse"), str,
           lambda v: "TLS handshake stalls" if v == "stall" else "TLS session reuse required"),
    Option("times", TRIGGER, "N", "fire on the next N matches, then disarm", *_whole(1), str, _times),
    Option("every", TRIGGER, "N", "fire on every Nth match", *_whole(1), str, lambda v: f"every {v}"),
    Option("chance", TRIGGER, "P", "fire with probability P (the same sequence for the same --seed)",
           *_real(0.0, 1.0), _number, lambda v: f"{v:.0%} chance"),
    Option("for", TRIGGER, "SECONDS", "disarm the rule SECONDS after it was armed (an outage)",
           *_real(0.0, 86400.0), _number, lambda v: f"for {_number(v)} s", field="duration"),
    Option("at", TRIGGER, "N[,M...]", "fire on the Nth (and Mth...) match only: the 3rd upload "
           "of /a.bin is upload,path=/a.bin,at=3", _at_text, _at_field,
           lambda v: ",".join(map(str, v)), _ordinals),
    Option("path", TRIGGER, "GLOB", "only for files whose name matches GLOB", _free_text,
           _free_text, str, lambda v: f"path {v}"),
    Option("user", TRIGGER, "NAME", "only for sessions logged in as NAME", _free_text, _free_text,
           str, lambda v: f"user {v}"),
    Option("client", TRIGGER, "GLOB", "only for clients whose IP address matches GLOB", _free_text,
           _free_text, str, lambda v: f"client {v}"),
    Option("session", TRIGGER, "N", "only for session N (the #N of the log)", *_whole(1), str,
           lambda v: f"session #{v}"),
)}
_FIELD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Rule)}
ACTIONS = tuple(o for o in OPTIONS.values() if o.role == ACTION)
SHAPES = tuple(o for o in OPTIONS.values() if o.role == SHAPE)
DATA_OPTIONS = tuple(o for o in OPTIONS.values() if o.role == DATA)
TRIGGERS = tuple(o for o in OPTIONS.values() if o.role == TRIGGER)
SECTIONS = tuple((title, tuple(o for o in OPTIONS.values() if o.role == role))
                 for role, title in ROLES.items())  # (heading, options) for help texts
FLAGS = tuple(o.name for o in ACTIONS if o.flag)  # stall, drop, reset: one at most
# The fields a rule has in a profile or the API's fields form, beside its options.
HEAD_FIELDS = ("point", "code", "message", "enabled")
assert ({o.attr for o in OPTIONS.values()} | set(HEAD_FIELDS) | {"id", "drawn"}
        == set(_FIELD_DEFAULTS)), "Rule and OPTIONS disagree"


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
        elif options and part.strip().isdigit() and options[-1].strip().lower().startswith("at="):
            options[-1] += "," + part  # at=3,5: more match numbers
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
        if option.attr in fields:
            raise RuleError(f"option {name!r} given twice")
        if option.bare is not None and not has_value:
            fields[option.attr] = option.bare
        elif not has_value:
            raise RuleError(f"{name} needs a value ({name}=...)")
        else:
            fields[option.attr] = option.from_text(name, value)
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
        rule = parse_rule(data["spec"])
        return rule if rule.enabled == enabled else rule.replace(enabled=enabled)
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
            fields[option.attr] = option.from_field(name, data[name])
    return validate(Rule(**fields))


def rule_to_fields(rule: Rule, defaults: bool = False) -> dict:
    """The fields form of a rule (what rule_from_fields reads), keyed by option name;
    without the fields at their defaults unless ``defaults``."""
    fields: dict = {"point": rule.point}
    for name, attr in (("code", "code"), ("message", "message"),
                       *((o.name, o.attr) for o in OPTIONS.values())):
        if defaults or getattr(rule, attr) != _FIELD_DEFAULTS[attr]:
            value = getattr(rule, attr)
            fields[name] = list(value) if isinstance(value, tuple) else value
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
    if rule.code is not None:
        info.check_code(rule.code)
    if rule.after is not None and rule.point not in ("upload", "download"):
        raise RuleError("after= applies to the upload and download points")
    if rule.rate is not None and info.kind != COMPLETION:
        raise RuleError("rate= applies to the upload, download and list points")
    if not rule.keep and rule.point != "upload":
        raise RuleError("keep=no applies to the upload point")
    if rule.early and rule.point != "download":
        raise RuleError("early applies to the download point")
    if rule.early and rule.after is not None:
        raise RuleError("early and after= cannot be combined: each decides when the reply goes")
    if rule.code is not None and (rule.stall or rule.reset):
        raise RuleError(f"{flags[0]} sends no reply: drop the code")
    if rule.stall and rule.delay is not None:
        raise RuleError("stall never answers: delay= makes no sense with it")
    if (rule.stall or rule.reset) and (rule.shapes_reply or rule.early):
        raise RuleError(f"{flags[0]} sends no reply: it has no shape")
    if rule.drop and rule.code is not None and rule.code < 200:
        raise RuleError(f"drop hangs up after a final reply: {rule.code} is not one")
    data = [o.name for o in DATA_OPTIONS if getattr(rule, o.attr) is not None]
    if data and rule.point != "data":
        raise RuleError(f"{data[0]}= applies to the data point")
    if data and (rule.code is not None or flags):
        raise RuleError(f"{data[0]}= shapes the data connection: a code, {'/'.join(FLAGS)} "
                        "would replace it")
    if len([name for name in data if name != "address"]) > 1:
        raise RuleError(f"{' and '.join(n for n in data if n != 'address')} cannot be combined")
    if info.kind == GREETING and (rule.path is not None or rule.user is not None):
        raise RuleError("path= and user= cannot apply at connect: nothing is asked, nobody "
                        "logged in yet")
    acts = any(getattr(rule, o.attr) != o.default for o in (*ACTIONS, *SHAPES, *DATA_OPTIONS))
    if rule.code is None and (rule.after is not None or not rule.keep or not acts):
        # a bare point, a cut, or a removed upload replies with the point's default code
        rule = rule.replace(code=info.default_code)
    return rule


def combine(rules: list[Rule]) -> Rule | None:
    """The one rule in effect at a reply, from the rules that fired there: the first (the
    deciding one, if any) with the longest delay and the slowest rate of them all, and each
    other option it lacks from the first of the others that has it."""
    if not rules:
        return None
    first, changes = rules[0], {}
    delays = [r.delay for r in rules if r.delay is not None]
    rates = [r.rate for r in rules if r.rate is not None]
    changes["delay"] = max(delays) if delays else None
    changes["rate"] = min(rates) if rates else None
    for option in (*SHAPES, *DATA_OPTIONS):
        given = next((v for r in rules if (v := getattr(r, option.attr)) != option.default), None)
        if given is not None:
            changes[option.attr] = given
    return first.replace(**changes)


__all__ = ["ACTION", "ACTIONS", "COMMAND", "DATA", "DATA_OPTIONS", "OPTIONS", "SECTIONS", "SHAPE",
           "SHAPES", "TRIGGER", "TRIGGERS", "Option", "Rule", "RuleError", "combine", "parse_rule",
           "rule_from_fields", "rule_to_fields", "validate"]
