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

Both forms of a fault (a ``spec`` line, or its fields) go through the one rule grammar;
in the fields form the free text (message, path, user) is kept as given, commas and all.
Saving writes spec lines, or fields for a rule whose line would read back differently.
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
    # message, path and user are free text: set beside the grammar, so a comma in them is
    # text ("Full, times=3" stays the message), never an option of its own
    texts = {}
    for name in ("message", *_STRINGS):
        if name in data:
            value = data[name]
            if not isinstance(value, str):
                raise RuleError(f"{name} must be a string")
            value = value.strip()
            if not value:
                raise RuleError("empty message" if name == "message" else f"{name}= needs a value")
            if any(ch in value for ch in "\r\n"):
                raise RuleError(f"the {name} must be a single line")
            texts[name] = value
    return parse_rule(",".join([head, *options])).replace(**texts, enabled=enabled)


def rule_to_fields(rule: Rule) -> dict:
    """The fields form of a rule (what rule_from_fields reads), without defaults."""
    fields: dict = {"point": rule.point}
    for name in ("code", "message", *_NUMBERS, *_STRINGS):
        if getattr(rule, name) is not None:
            fields[name] = getattr(rule, name)
    fields.update({name: True for name in _FLAGS if getattr(rule, name)})
    if not rule.keep:
        fields["keep"] = False
    return fields


def _entry(rule: Rule) -> dict:
    """A rule as a [[fault]] table: its spec line, or its fields when the line would read
    back as another rule (a message or path with ", name=" in it)."""
    try:
        same = parse_rule(rule.spec) == rule.replace(id="", enabled=True)
    except RuleError:
        same = False
    entry = {"spec": rule.spec} if same else rule_to_fields(rule)
    return entry | ({} if rule.enabled else {"enabled": False})


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
    data["fault"] = [_entry(r) for r in rules]
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
