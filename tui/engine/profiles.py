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
Saving writes spec lines, or fields for a rule whose line would read back differently,
and leaves the rest of the file as it was. Errors name the file, the entry and the problem.
"""

from __future__ import annotations

import os
import stat
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import tomlkit
from tomlkit.items import AoT

from .chaos import MOMENTS
from .rules import Rule, RuleError, parse_rule, rule_from_fields, rule_to_fields
from .settings import SETTINGS


class ProfileError(Exception):
    """A profile that cannot be used; the message names the file, the entry and the problem."""


def _entry(rule: Rule) -> dict:
    """A rule as a [[fault]] table: its spec line, or its fields when the line would read
    back as another rule (a message or path with ", name=" in it)."""
    try:
        same = parse_rule(rule.spec) == rule.replace(id="", enabled=True)
    except RuleError:
        same = False
    entry = {"spec": rule.spec} if same else rule_to_fields(rule)
    return entry | ({} if rule.enabled else {"enabled": False})


def _after_the_faults(document: tomlkit.TOMLDocument) -> list:
    """The comments and blank lines after the last [[fault]]'s last key. TOML gives them to
    that table; to whoever wrote them they come after it (a note at the end of the file,
    the comment above a [server] that follows), so they are not the console's to drop."""
    faults = document.get("fault")
    if not isinstance(faults, AoT) or not faults:
        return []
    body = faults[-1].value.body
    keys = [i for i, (key, _) in enumerate(body) if key is not None]
    return [item for _, item in body[keys[-1] + 1 if keys else 0:]]


@dataclass
class Profile:
    path: Path
    server: dict = field(default_factory=dict)  # settings by name, converted ([chaos] too)
    rules: list[Rule] = field(default_factory=list)
    replay: dict = field(default_factory=dict)  # recorded chaos draws: {(point, moment): {turn: spec}}


CHAOS_KEYS = {"probability": "chaos", "points": "chaos_points", "faults": "chaos_faults"}
REPLAY_KEYS = {"point", "moment", "turn", "spec", "path"}


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
    except ValueError:  # tomllib's int() of a number past Python's digit limit
        raise ProfileError(f"{path}: not valid TOML: a number with too many digits") from None
    unknown = sorted(set(data) - {"server", "fault", "chaos", "replay"})
    if unknown:
        raise ProfileError(f"{path}: unknown section [{unknown[0]}] (expected [server], [chaos], "
                           "[[fault]] and [[replay]])")
    table = data.get("server", {})
    if not isinstance(table, dict):
        raise ProfileError(f"{path}: [server] must be a table")
    server = {}
    for key, value in table.items():
        if key not in SETTINGS:
            raise ProfileError(f"{path}: [server]: unknown setting {key[:40]!r}")
        try:
            server[key] = SETTINGS[key].kind.load(value)
        except ValueError as err:
            raise ProfileError(f"{path}: [server]: {key}: {err}") from None
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
    chaos = data.get("chaos", {})
    if not isinstance(chaos, dict):
        raise ProfileError(f"{path}: [chaos] must be a table")
    for key, value in chaos.items():
        if key not in CHAOS_KEYS:
            raise ProfileError(f"{path}: [chaos]: unknown key {key[:40]!r} (known: {', '.join(CHAOS_KEYS)})")
        try:
            server[CHAOS_KEYS[key]] = SETTINGS[CHAOS_KEYS[key]].kind.load(value)
        except ValueError as err:
            raise ProfileError(f"{path}: [chaos]: {key}: {err}") from None
    return Profile(path, server, rules, _replay(path, data.get("replay", [])))


def _replay(path: Path, entries: object) -> dict:
    """The [[replay]] tables (what ftpfault replay --to-profile writes): chaos draws."""
    if not isinstance(entries, list):
        raise ProfileError(f"{path}: replay must be a list of [[replay]] tables")
    draws: dict = {}
    for n, entry in enumerate(entries, start=1):
        where = f"{path}: replay #{n}"
        if not isinstance(entry, dict) or not {"point", "moment", "turn", "spec"} <= set(entry):
            raise ProfileError(f"{where}: needs point, moment, turn and spec")
        if set(entry) - REPLAY_KEYS:
            raise ProfileError(f"{where}: unknown key {sorted(set(entry) - REPLAY_KEYS)[0]!r}")
        turn = entry["turn"]
        if isinstance(turn, bool) or not isinstance(turn, int) or turn < 1:
            raise ProfileError(f"{where}: turn must be a whole number from 1")
        try:
            rule = parse_rule(str(entry["spec"]))
        except RuleError as err:
            raise ProfileError(f"{where}: {err}") from None
        if rule.point != entry["point"] or entry["moment"] not in MOMENTS:
            raise ProfileError(f"{where}: the spec's point or the moment does not fit")
        draws.setdefault((entry["point"], entry["moment"]), {})[turn] = rule.spec
    return draws


def save_profile(path: str | Path, rules: Iterable[Rule]) -> Path:
    """Write the rules as the file's [[fault]] tables, atomically. What else the file has
    ([server], other comments) stays as it was, and so do its mode and a symlink to it
    (the file it points to is written). ProfileError if the file is not TOML."""
    target = Path(os.path.realpath(Path(path).expanduser()))
    mode = None
    if target.exists():
        try:
            document = tomlkit.parse(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as err:
            raise ProfileError(f"{path}: cannot read it: {err}") from None
        except Exception as err:  # tomlkit's parse errors
            raise ProfileError(f"{path}: not valid TOML, not overwritten: {err}") from None
        mode = stat.S_IMODE(target.stat().st_mode)
    else:
        document = tomlkit.document()
        document.add(tomlkit.comment(f"FTP Fault Console profile: ftpfault --profile {target.name}"))
    after = _after_the_faults(document)
    faults = tomlkit.aot()
    for rule in rules:
        table = tomlkit.table()
        table.update(_entry(rule))
        faults.append(table)
    if not faults:
        document.pop("fault", None)  # (an empty array of tables would be "fault = []" on top)
    elif "fault" in document:
        document["fault"] = faults  # where the old ones were
    else:
        document.append("fault", faults)
    for item in after:
        (faults[-1] if faults else document).add(item)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:  # created as open() would (the umask applies), then given the old file's mode
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(tomlkit.dumps(document))
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def save_replay_profile(path: str | Path, rules: Iterable[Rule], draws: dict, note: str) -> Path:
    """A profile that fires a recorded run's faults again (ftpfault replay --to-profile):
    its rules with at=, and its chaos draws as [[replay]] tables."""
    target = Path(path).expanduser()
    if target.exists():
        raise ProfileError(f"{target}: already exists (not overwritten)")
    document = tomlkit.document()
    document.add(tomlkit.comment(note))
    document.add(tomlkit.comment(f"ftpfault --profile {target.name}, or FaultServer(profile=...) in a test"))
    faults = tomlkit.aot()
    for rule in rules:
        table = tomlkit.table()
        table.update(_entry(rule))
        faults.append(table)
    if faults:
        document.append("fault", faults)
    replay = tomlkit.aot()
    for (point, moment), turns in sorted(draws.items()):
        for turn, spec in sorted(turns.items()):
            table = tomlkit.table()
            table.update({"point": point, "moment": moment, "turn": turn, "spec": spec})
            replay.append(table)
    if replay:
        document.append("replay", replay)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(tomlkit.dumps(document), encoding="utf-8")
    return target
