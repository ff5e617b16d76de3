"""Every setting of a run, typed in one place.

Each field of ``Settings`` carries its kind (how it reads from the command line and from a
profile's ``[server]`` table) and its help text. The command line's options, the profile
keys, their defaults and their conversions are all read from here.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

from .chaos import CHAOS_POINTS, DEFAULT_FAMILIES, DEFAULT_POINTS, FAMILIES, check as check_chaos

from .points import FEATURES

DEFAULT_PASSIVE_PORTS = range(60000, 65536)
DEFAULT_CONTROL_PORT = 2122
DEFAULT_REPORT_WINDOW = 60.0  # where `ftpfault ctl` looks for the control API by default
DEFAULT_MAX_SESSIONS = 512  # pyftpdlib's max_cons, counted in sessions rather than sockets
ALL_PERMISSIONS = "elradfmwMT"  # every permission pyftpdlib has (M: SITE CHMOD, T: MFMT)


@dataclass(frozen=True)
class Kind:
    """How a setting's value is written: ``parse`` reads the command line's text, ``load``
    a profile's TOML value; both raise ValueError with a message naming the problem."""

    parse: Callable[[str], object]
    load: Callable[[object], object]
    flag: bool = False  # a switch on the command line (--tls), true/false in a profile


def _text_value(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _nonempty(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 5 or int(text) > 65535:
        raise ValueError(f"{text[:20]!r} is not a port number (0-65535)")
    return int(text)


def _integer_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number")
    return value


def _port_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a port number (0-65535)")
    if not 0 <= value <= 65535:
        raise ValueError(f"{value} is not a port number (0-65535)" if abs(value) < 10**9
                         else "is not a port number (0-65535)")
    return value


def _integer(text: str) -> int:
    if not re.fullmatch(r"-?\d{1,30}", text.strip()):
        raise ValueError(f"{text[:20]!r} is not a whole number (up to 30 digits)")
    return int(text)


def _bounded_integer_value(value: object) -> int:
    value = _integer_value(value)
    if abs(value) >= 10**30:
        raise ValueError("is too large (up to 30 digits)")
    return value


def _port_range(text: str) -> range:
    low, sep, high = text.partition("-")
    try:
        lo, hi = _port(low.strip()), _port((high if sep else low).strip())
    except ValueError:
        raise ValueError(f"{text[:20]!r} is not a port range like 60000-65535") from None
    if not (1 <= lo <= hi):
        raise ValueError(f"{text[:20]!r} is not a port range within 1-65535")
    return range(lo, hi + 1)


def _port_range_value(value: object) -> range:
    if isinstance(value, str):
        return _port_range(value)
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
        lo, hi = (_port_value(v) for v in value)
        if not 1 <= lo <= hi:
            raise ValueError(f"[{lo}, {hi}] is not a port range within 1-65535")
        return range(lo, hi + 1)
    raise ValueError('must be "LOW-HIGH" or [LOW, HIGH]')


def _ipv4(text: str) -> str:
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an IPv4 address") from None


def parse_address(text: str) -> tuple[str, int]:
    """``PORT`` or ``HOST:PORT`` (loopback unless a host is given)."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if sep else "127.0.0.1"
    try:
        return host or "127.0.0.1", _port(port)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not PORT or HOST:PORT") from None


def _address_value(value: object) -> tuple[str, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        return "127.0.0.1", _port_value(value)
    return parse_address(_text_value(value))


def _perm(text: str) -> str:
    wrong = sorted(set(text) - set(ALL_PERMISSIONS))
    if wrong or not text:
        raise ValueError(f"{text[:20]!r}: permissions are letters of {ALL_PERMISSIONS}")
    return text


def _real(noun: str, top: float, bounds: str) -> Kind:
    """A number more than 0 and at most ``top``, from text or from TOML: ``noun`` names it in
    the error for text that is no number, ``bounds`` in the error for one out of bounds."""
    def load(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"must be {noun}")
        if not 0 < value <= top:  # NaN fails too
            raise ValueError(f"must be {bounds}")
        return float(value)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{text[:20]!r} is not {noun}") from None
        return load(value)

    return Kind(parse, load)


def _bool_value(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


TEXT = Kind(_nonempty, lambda v: _nonempty(_text_value(v)))
PORT = Kind(_port, _port_value)
PATH = Kind(lambda t: Path(_nonempty(t)).expanduser(), lambda v: Path(_nonempty(_text_value(v))).expanduser())
FLAG = Kind(bool, _bool_value, flag=True)
INTEGER = Kind(_integer, _bounded_integer_value)
PORT_RANGE = Kind(_port_range, _port_range_value)
IPV4 = Kind(_ipv4, lambda v: _ipv4(_text_value(v)))
ADDRESS = Kind(parse_address, _address_value)
PERMISSIONS = Kind(_perm, lambda v: _perm(_text_value(v)))
SECONDS = _real("a number of seconds", 86400, "more than 0 and at most 86400 seconds")


def _suffix(text: str) -> str:
    if not text or "/" in text or "\x00" in text:
        raise ValueError(f"{text[:20]!r} is not a file name suffix like .part")
    return text


SUFFIX = Kind(_suffix, lambda v: _suffix(_text_value(v)))


def _features(text: str) -> frozenset[str]:
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    return _feature_set(names)


def _feature_set(names: list) -> frozenset[str]:
    wrong = [n for n in names if n not in FEATURES]
    if wrong or not names:
        raise ValueError(f"{(','.join(wrong) or 'nothing')[:40]!r}: features are a comma-separated "
                         f"list of {','.join(FEATURES)}")
    return frozenset(names)


def _features_value(value: object) -> frozenset[str]:
    if isinstance(value, str):
        return _features(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return _feature_set([v.strip().upper() for v in value])
    raise ValueError('must be "MLST,EPSV" or ["MLST", "EPSV"]')


def _list_format(text: str) -> str:
    if text not in ("unix", "dos"):
        raise ValueError(f"{text[:20]!r} is not a listing format (unix or dos)")
    return text


def _names(check):
    """A comma-separated list (a TOML list of strings), each name checked by ``check``."""
    def parse(text: str) -> tuple[str, ...]:
        return check([n.strip() for n in text.split(",") if n.strip()])

    def load(value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return parse(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return check([v.strip() for v in value])
        raise ValueError('must be "a,b" or ["a", "b"]')

    return parse, load


FEATURE_LIST = Kind(_features, _features_value)
PROBABILITY = _real("a probability like 0.1", 1, "a probability in (0, 1], like 0.1")
CHAOS_POINT_LIST = Kind(*_names(lambda names: check_chaos(names, DEFAULT_FAMILIES)[0]))
CHAOS_FAULT_LIST = Kind(*_names(lambda names: check_chaos(DEFAULT_POINTS, names)[1]))
LIST_FORMAT = Kind(_list_format, lambda v: _list_format(_text_value(v)))
def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        raise ValueError(f"{text[:20]!r} is not a count (0 or more, up to 9 digits)")
    return int(text)


def _count_value(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**9:
        raise ValueError("must be a count (0 or more, up to 9 digits)")
    return value


COUNT = Kind(_count, _count_value)  # 0 or more; 0 often means "no limit"


def setting(default, kind: Kind, help: str, metavar: str | None = None):
    """A field of Settings with what the command line and profiles need to know of it."""
    return field(default=default, metadata={"kind": kind, "help": help, "metavar": metavar})


@dataclass(frozen=True)
class Settings:
    host: str = setting("127.0.0.1", TEXT, "address to listen on")
    port: int = setting(2121, PORT, "control port; 0 picks a free port and shows it")
    root: Path = setting(Path("ftp_data"), PATH, "directory served as /, created if missing",
                         "DIR")
    user: str = setting("testuser", TEXT, "login name")
    password: str = setting("testpass", TEXT, "password")
    perm: str = setting(ALL_PERMISSIONS, PERMISSIONS,
                        "the account's permissions, as pyftpdlib's letters (e: cd, l: list, r: "
                        "retrieve, a: append, d: delete, f: rename, m: mkdir, w: store, M: chmod, "
                        "T: mtime)",
                        "LETTERS")
    passive_ports: range | None = setting(DEFAULT_PASSIVE_PORTS, PORT_RANGE,
                                          "ports used for passive data connections", "LOW-HIGH")
    masquerade: str | None = setting(None, IPV4, "IPv4 address announced in PASV replies "
                                     "(for NAT or containers)", "ADDRESS")
    anonymous: bool = setting(False, FLAG, "also allow anonymous login, read-only")
    partial_suffix: str = setting("", SUFFIX, "write new uploads as NAME+SUFFIX, renamed to NAME once "
                                  "complete (off by default)", "SUFFIX")
    idle_timeout: float = setting(300.0, SECONDS, "seconds a session may send nothing before the "
                                  "server says 421 and hangs up", "SECONDS")
    hide_feat: frozenset[str] | None = setting(None, FEATURE_LIST, "leave these features out of "
                                               "FEAT and answer their commands 500, as an older "
                                               f"server would ({','.join(FEATURES)})", "LIST")
    list_format: str = setting("unix", LIST_FORMAT, "LIST lines as ls -l writes them (unix) or as "
                               "IIS does (dos; SYST then says Windows_NT)", "unix|dos")
    seed: int | None = setting(None, INTEGER, "seed for chance= triggers and chaos: the same "
                               "seed repeats the same faults (default: one made at start, in the "
                               "run event)", "N")
    chaos: float | None = setting(None, PROBABILITY, "chaos: each reply at a fault point gets a "
                                  "random fault with probability P (repeatable with --seed)", "P")
    chaos_points: tuple[str, ...] = setting(DEFAULT_POINTS, CHAOS_POINT_LIST, "the points chaos "
                                            f"acts at (of {','.join(CHAOS_POINTS)})", "POINT,...")
    chaos_faults: tuple[str, ...] = setting(DEFAULT_FAMILIES, CHAOS_FAULT_LIST, "the kinds of "
                                            f"fault chaos draws (of {','.join(FAMILIES)})",
                                            "KIND,...")
    tls: bool = setting(False, FLAG, "explicit FTPS (AUTH TLS) with a self-signed certificate "
                        "made at start")
    tls_required: bool = setting(False, FLAG, "FTPS only: refuse logins and data connections "
                                 "that are not protected")
    cert: Path | None = setting(None, PATH, "certificate for --tls (PEM)", "FILE.pem")
    key: Path | None = setting(None, PATH, "its private key, if not in --cert", "FILE.pem")
    control: tuple[str, int] | None = setting(None, ADDRESS, "serve the control API (HTTP/JSON, "
                                              "loopback unless HOST) for scripts and "
                                              "'ftpfault ctl'", "[HOST:]PORT")
    control_token: str | None = setting(None, TEXT, "bearer token the control API requires "
                                        "(default: none on loopback; made and printed when the "
                                        "API listens beyond it)", "TOKEN")
    journal: Path | None = setting(None, PATH, "append every event to FILE as JSON lines "
                                   "(flushed; safe to tail)", "FILE.jsonl")
    report: Path | None = setting(None, PATH, "on exit, write the client report to FILE "
                                  "(.json, .md, else text)", "FILE")
    report_window: float = setting(DEFAULT_REPORT_WINDOW, SECONDS, "seconds after a fault in "
                                   "which a client's retries count in the report", "SECONDS")
    max_sessions: int = setting(DEFAULT_MAX_SESSIONS, COUNT, "sessions served at once; one more is "
                                "told 421 and closed (0: no limit)", "N")
    max_sessions_per_ip: int = setting(0, COUNT, "sessions served at once from one client address; "
                                       "one more is told 421 and closed (0: no limit)", "N")

    def to_json(self) -> dict:
        """The settings as a run event carries them (the password is not written)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("password", "control_token") and value is not None:
                value = "******"
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, range):
                value = f"{value.start}-{value.stop - 1}"
            elif f.name == "control" and value is not None:
                value = f"{value[0]}:{value[1]}"
            elif isinstance(value, tuple | frozenset):  # a comma list, as the command line takes it
                value = ",".join(sorted(value) if isinstance(value, frozenset) else value)
            out[f.name] = value
        return out

    def with_values(self, values: dict) -> Settings:
        """These settings with some replaced; a certificate means FTPS."""
        merged = {**{f.name: getattr(self, f.name) for f in fields(self)}, **values}
        if (merged["cert"] or merged["key"]) and not (merged["tls"] or merged["tls_required"]):
            merged["tls"] = True
        return Settings(**merged)


@dataclass(frozen=True)
class SettingInfo:
    name: str
    default: object
    kind: Kind
    help: str
    metavar: str | None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


SETTINGS: dict[str, SettingInfo] = {
    f.name: SettingInfo(f.name, f.default, f.metadata["kind"], f.metadata["help"], f.metadata["metavar"])
    for f in fields(Settings)
}
