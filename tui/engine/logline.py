"""One readable line per event (the console's log, headless output), and client text made
safe to show: whatever a client sends is shown as sent, never acted on by a terminal."""

from __future__ import annotations

import time

from .events import (
    CHAOS, COMMAND, DIVERGED, ERROR, FAULT, LOGIN, REPLY, RULE, RUN, SESSION_CLOSE, SESSION_OPEN,
    TRANSFER, Event,
)


def clock(when: float) -> str:
    """A time of day to the millisecond, as every log line starts."""
    return time.strftime("%H:%M:%S", time.localtime(when)) + f".{int(when * 1000) % 1000:03d}"


def human_bytes(n: float) -> str:
    """1023 B, 1.0 KiB, 3.4 MiB: a byte count for people."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def format_event(event: Event) -> str | None:
    """One readable log line for an event, or None for kinds that are not logged."""
    line = describe(event)
    if line is None:
        return None
    return visible(f"{clock(event.time)} {f'#{event.session}' if event.session else '--'} {line}")


def describe(event: Event) -> str | None:
    """What an event says, without when or which session (not yet made visible)."""
    kind = event.kind
    if kind == COMMAND:
        line = f"<- {event.command} {event.arg}".rstrip()
    elif kind == REPLY:
        line = f"-> {event.code} {event.message}"
        if event.lines:
            line += f" (+{len(event.lines)} lines before)"
        if event.unsolicited:
            line += " (unsolicited: the answer to no command)"
    elif kind == FAULT:
        where = f"{event.command} {event.path}".strip()  # (a greeting has no command)
        whose = f"({where}, rule {event.rule})" if where else f"(rule {event.rule})"
        if event.shaping:
            line = f"SHAPE {event.point} {event.action} {whose}"
        else:
            what = f"{event.code} {event.message}" if event.code else event.action
            how = f" {event.action}" if event.code and event.action != f"reply {event.code}" else ""
            line = f"FAULT {event.point}{how} -> {what} {whose}"
    elif kind == TRANSFER:
        result = event.code or "no reply"
        rate = f" ({human_bytes(event.bytes / event.elapsed)}/s)" if event.elapsed > 0 else ""
        start = f" from {event.offset}" if event.offset else ""
        line = (f"transfer {event.direction} {event.path} {event.bytes} B{start}"
                f" in {event.elapsed:.3f} s{rate} -> {result}")
    elif kind == SESSION_OPEN:
        line = f"session opened from {event.address}"
    elif kind == SESSION_CLOSE:
        line = f"session closed ({event.address})"
    elif kind == LOGIN:
        line = f"login {event.user} {'ok' if event.ok else 'FAILED'}"
    elif kind == ERROR:
        line = f"ERROR {event.message}"
    elif kind == RULE:
        state = "armed" if event.enabled else "off"
        line = f"rule {event.rule} {event.change} ({state}, {event.source or 'unknown'}): {event.spec}"
    elif kind == DIVERGED:
        line = f"DIVERGED {event.message}"
    elif kind == CHAOS:
        chaos = event.settings or {}
        how = (f"{chaos.get('probability', 0):.0%} seed {chaos.get('seed')}" if "probability" in chaos
               else f"replay ({len(chaos.get('replay', []))} draws)" if chaos else "")
        line = f"chaos {'on' if event.enabled else 'off'} {how} ({event.source or 'unknown'})".replace("  ", " ")
    elif kind == RUN:
        line = f"run {event.run} ftpfault {event.version}, rules: {', '.join(event.rules) or 'none'}"
    else:
        return None
    return line


# Characters a client may send that would act instead of show: C0/C1 controls (terminal
# escapes, forged lines), and invisible format characters (bidi overrides that reorder
# what follows them, zero-width characters, line separators).
_INVISIBLE = (*range(0x20), *range(0x7F, 0xA0), 0xAD, 0x61C, 0x180E, *range(0x200B, 0x2010),
              0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF,
              *range(0xFFF9, 0xFFFC), *range(0xE0000, 0xE0080))
_VISIBLE = {i: f"\\x{i:02x}" if i < 0x100 else f"\\u{i:04x}" if i < 0x10000 else f"\\U{i:08x}"
            for i in _INVISIBLE}


def visible(text: str) -> str:
    """Client text as it may be shown: every control or invisible character escaped."""
    return text.translate(_VISIBLE)
