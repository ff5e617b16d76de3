"""The console under Textual's Pilot: wait for what the screen shows, type a line into a
focused input, keep the notifications the app shows, read the fault panel, and a client
beside the console."""

from __future__ import annotations

import ftplib
import io
import time
from collections.abc import Callable

import pytest
from textual.widgets import Switch

from tui.console.widgets.fault_panel import FaultPanel, FaultRow
from tui.engine.server import FaultServer

from .servers import DEADLINE, connect

SIZE = (140, 40)  # the terminal size the console tests run in


async def until(pilot, predicate: Callable[[], object], what: str, timeout: float = DEADLINE):
    """Let the app run until ``predicate()`` holds; fail at the deadline."""
    end = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        await pilot.pause(0.02)
    return value


async def type_line(pilot, text: str) -> None:
    """Replace what the focused input holds with ``text``, typed key by key."""
    await pilot.press("end", "ctrl+u", *text)


def recording_notes(app) -> list[tuple[str, str]]:
    """Every notification the app shows from now on, as (message, severity)."""
    notes: list[tuple[str, str]] = []
    notify = app.notify

    def record(message, *args, **kwargs):
        notes.append((str(message), kwargs.get("severity", "information")))
        return notify(message, *args, **kwargs)

    app.notify = record
    return notes


# --- the fault panel as the screen shows it


def row(app, point: str) -> FaultRow:
    """The panel's row for a point (the FaultRow the keys act on)."""
    return app.query_one(FaultPanel).row_for(point)


def armed_on_screen(app, point: str) -> bool:
    """Whether the point's row shows it armed; its switch and its label must agree."""
    r = row(app, point)
    label = str(r.query_one(".state").render())
    switch = r.query_one(Switch).value
    assert (label == "ARMED") == switch, "switch and label disagree"
    return switch


# --- a client beside the console (run it with asyncio.to_thread)


def upload(server: FaultServer, name: str, data: bytes = b"x" * 10_000) -> str:
    """One upload on a fresh session; returns the final reply (fault replies too)."""
    ftp = connect(server)
    try:
        return ftp.storbinary(f"STOR {name}", io.BytesIO(data))
    except ftplib.error_temp as err:
        assert ftp.voidcmd("NOOP").startswith("200")
        return str(err)
    finally:
        ftp.close()


def download(server: FaultServer, name: str) -> str:
    ftp = connect(server)
    try:
        return ftp.retrbinary(f"RETR {name}", lambda b: None)
    except ftplib.error_temp as err:
        assert ftp.voidcmd("NOOP").startswith("200")
        return str(err)
    finally:
        ftp.close()
