"""Profiles: a set of rules, and optionally server settings, in a TOML file.

    [server]
    port = 2121
    seed = 7

    [[fault]]
    spec = "upload=451,times=1"

    [[fault]]
    point = "download"
    code = 426
    after = 100000
    path = "*.iso"

Both forms of a fault (a ``spec`` line, or its fields) go through the one rule grammar.
Errors name the file, the entry and the problem.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from .faults import Rule, RuleError, parse_rule

SERVER_KEYS = ("host", "port", "root", "user", "password", "passive_ports", "masquerade",
               "anonymous", "seed", "control", "journal", "tls", "tls_required", "cert", "key")
_NUMBERS = ("after", "rate", "delay", "times", "every", "chance")
_STRINGS = ("path", "user")
_FLAGS = ("stall", "drop", "reset")
RULE_FIELDS = ("point", "code", "message", *_NUMBERS, *_FLAGS, "keep", *_STRINGS, "enabled")


class ProfileError(Exception):
    """A profile that cannot be used; the message names the file, the entry and the problem."""


def rule_from_fields(data: Mapping) -> Rule:
    """A rule from ``{"spec": "..."}`` or from its fields (point, code, after, times, ...)."""
    enabled = data.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RuleError("enabled must be true or false")
    if "spec" in data:
        extra = sorted(set(data) - {"spec", "enabled"})
        if extra:
            raise RuleError(f"give a spec or fields, not both (also got {', '.join(extra)})")
        if not isinstance(data["spec"], str):
            raise RuleError("spec must be a string")
        return parse_rule(data["spec"]).replace(enabled=enabled)
    unknown = sorted(set(data) - set(RULE_FIELDS))
    if unknown:
        raise RuleError(f"unknown field {unknown[0]!r}")
    point = data.get("point")
    if not isinstance(point, str):
        raise RuleError("a fault needs a point (or a spec)")
    head = point
    if "code" in data:
        code = data["code"]
        if isinstance(code, bool) or not isinstance(code, int):
            raise RuleError("code must be a number like 451")
        head += f"={code}"
        if "message" in data:
            if not isinstance(data["message"], str):
                raise RuleError("message must be a string")
            head += f":{data['message']}"
    elif "message" in data:
        raise RuleError("a message needs a code")
    options = []
    for name in _NUMBERS:
        if name in data:
            value = data[name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise RuleError(f"{name} must be a number")
            options.append(f"{name}={value}")
    for name in _FLAGS:
        if name in data:
            if not isinstance(data[name], bool):
                raise RuleError(f"{name} must be true or false")
            if data[name]:
                options.append(name)
    if "keep" in data:
        if not isinstance(data["keep"], bool):
            raise RuleError("keep must be true or false")
        options.append(f"keep={'yes' if data['keep'] else 'no'}")
    for name in _STRINGS:
        if name in data:
            if not isinstance(data[name], str):
                raise RuleError(f"{name} must be a string")
            options.append(f"{name}={data[name]}")
    return parse_rule(",".join([head, *options])).replace(enabled=enabled)


@dataclass
class Profile:
    path: Path
    server: dict = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)


def load_profile(path: str | Path) -> Profile:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ProfileError(f"{path}: cannot read it: {err}") from None
    except tomllib.TOMLDecodeError as err:
        raise ProfileError(f"{path}: not valid TOML: {err}") from None
    unknown = sorted(set(data) - {"server", "fault"})
    if unknown:
        raise ProfileError(f"{path}: unknown section [{unknown[0]}] (expected [server] and [[fault]])")
    server = data.get("server", {})
    if not isinstance(server, dict):
        raise ProfileError(f"{path}: [server] must be a table")
    for key in server:
        if key not in SERVER_KEYS:
            raise ProfileError(f"{path}: [server]: unknown setting {key!r}")
    faults = data.get("fault", [])
    if not isinstance(faults, list):
        raise ProfileError(f"{path}: fault must be a list of [[fault]] tables")
    rules = []
    for n, entry in enumerate(faults, start=1):
        if not isinstance(entry, dict):
            raise ProfileError(f"{path}: fault #{n}: must be a table")
        try:
            rules.append(rule_from_fields(entry))
        except RuleError as err:
            raise ProfileError(f"{path}: fault #{n}: {err}") from None
    return Profile(path, server, rules)


def save_profile(path: str | Path, rules: Iterable[Rule], server: Mapping | None = None) -> Path:
    """Write the rules (as spec lines, the form a person reads best) atomically."""
    path = Path(path)
    data: dict = {}
    if server:
        data["server"] = dict(server)
    data["fault"] = [{"spec": r.spec} | ({} if r.enabled else {"enabled": False}) for r in rules]
    text = "# FTP Fault Console profile: ftpfault --profile " + path.name + "\n" + tomli_w.dumps(data)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path
