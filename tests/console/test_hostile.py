"""Client text is untrusted: whatever a client sends reaches the screen as plain text.

The real console (Pilot) is fed a catalogue of hostile texts as user names, paths and
arguments; it must keep running, show each text as sent, and keep serving new clients.
"""

from __future__ import annotations

import asyncio
import ftplib
import io
import socket

import pytest

from tests.support.pilot import until
from tests.support.servers import DEADLINE, PASSWORD, USER, connect
from tui.console.widgets.fault_panel import FaultPanel
from tui.console.widgets.event_log import EventLog
from tui.console.widgets.live import SessionTable, TransferTable
from tui.engine.server import FaultServer

# Texts a client may send, and how each must read on the screen.
HOSTILE = {
    "closing tag": ("[/x]", "[/x]"),
    "markup": ("[b]bold[/b] [red]red", "[b]bold[/b] [red]red"),
    "action": ("[@click=app.quit]quit[/]", "[@click=app.quit]quit[/]"),
    "link": ("[link=http://evil.example]x[/link]", "[link=http://evil.example]x[/link]"),
    "ansi": ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
    "osc": ("\x1b]0;owned\x07", "\\x1b]0;owned\\x07"),
    "bidi": ("abc\u202edcba", "abc\\u202edcba"),
    "zero width": ("a\u200bb", "a\\u200bb"),
}


def raw_session(port: int, lines: list[bytes]) -> None:
    """Send lines on a raw control connection, reading a reply to each."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for line in lines:
            sock.sendall(line + b"\r\n")
            while True:  # a multi-line reply ends with "NNN "
                reply = reader.readline()
                if not reply or reply[3:4] == b" ":
                    break


def serves_a_fresh_client(server: FaultServer) -> bool:
    ftp = connect(server)
    try:
        return ftp.voidcmd("NOOP").startswith("200")
    finally:
        ftp.close()


def cells(table) -> list[str]:
    """Every cell's whole text (what the table draws is that, cut to its column)."""
    return [text for row in table.cells.values() for text, _ in row.values()]


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_hostile_user_names_and_paths_show_as_sent(console, root, name):
    text, shown = HOSTILE[name]
    (root / "plain.txt").write_bytes(b"data")
    async with console.run_test(size=(160, 45)) as pilot:
        port = console.server.port
        encoded = text.encode()
        await asyncio.to_thread(raw_session, port, [b"USER " + encoded, b"PASS nope"])
        await asyncio.to_thread(raw_session, port, [
            f"USER {USER}".encode(), f"PASS {PASSWORD}".encode(),
            b"CWD " + encoded, b"SITE " + encoded, b"MKD " + encoded, b"XYZZY " + encoded])

        file_name = "f " + text.replace("/", "|")  # a name (MKD made a directory of the text)

        def upload() -> None:
            ftp = connect(console.server)
            try:
                ftp.storbinary(f"STOR {file_name}", io.BytesIO(b"hostile"))
            finally:
                ftp.quit()

        await asyncio.to_thread(upload)
        sessions, transfers = console.query_one(SessionTable), console.query_one(TransferTable)
        shown_file = "f " + shown.replace("/", "|")
        await until(pilot, lambda: any(shown_file in c for c in cells(transfers)), "the path in Transfers")
        assert console.is_running
        assert any(c == shown for c in cells(sessions)), cells(sessions)
        log = console.query_one(EventLog)
        assert any(shown in line for line in log.lines), "the text in the log"
        await pilot.pause()  # draw it all
        assert console.is_running
        assert await asyncio.to_thread(serves_a_fresh_client, console.server)


async def test_invalid_utf8_and_a_2000_character_name(console):
    async with console.run_test(size=(80, 24)) as pilot:
        port = console.server.port
        await asyncio.to_thread(raw_session, port, [b"USER \xff\xfe[/x]\xc3", b"USER " + b"[" * 2000])
        sessions = console.query_one(SessionTable)
        await until(pilot, lambda: sessions.row_count == 1, "the session row")
        await pilot.pause()
        assert console.is_running
        assert await asyncio.to_thread(serves_a_fresh_client, console.server)


async def test_rule_texts_from_the_api_show_as_sent(console):
    """A rule's message and path come from scripts and profiles: plain text too."""
    async with console.run_test(size=(160, 45)) as pilot:
        console.server.board.add("upload=451:[/x] [@click=app.quit]boom[/],path=[ab]*.txt")
        panel = console.query_one(FaultPanel)
        await until(pilot, lambda: any("[/x]" in str(r.query_one(".summary").render())
                                       for r in panel.rows() if r.rule), "the rule's row")
        await pilot.pause()
        assert console.is_running


@pytest.mark.parametrize("bad", ["[/x].toml", "[@click=app.quit]x[/].toml"])
async def test_paths_in_prompts_and_notifications_are_plain(console, tmp_path, bad):
    async with console.run_test(size=(120, 36)) as pilot:
        console.profile = tmp_path / bad
        await pilot.press("l")  # the prompt shows the path; loading it fails: a notification
        await pilot.press("enter")
        await until(pilot, lambda: console._notifications and not console.screen.is_modal, "the notice")
        await pilot.pause()
        assert console.is_running
        await pilot.press("s")
        await pilot.pause()
        assert console.is_running


def test_ftplib_still_logs_in_after_hostile_sessions(server):
    raw_session(server.port, [b"USER [/x]", b"PASS [/x]"])
    ftp = connect(server)
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()
    with pytest.raises(ftplib.error_perm):
        connect_as = ftplib.FTP(timeout=DEADLINE)
        connect_as.connect("127.0.0.1", server.port)
        connect_as.login("[/x]", "nope")


async def test_a_failing_view_is_reported_and_the_server_goes_on(console, monkeypatch):
    """An error while folding events into a view is one log line and a notice, not the end."""
    async with console.run_test(size=(120, 36)) as pilot:
        def broken(batch):
            if batch:
                raise RuntimeError("a bug in a view [/x]")

        monkeypatch.setattr(console.sessions, "apply", broken)
        assert await asyncio.to_thread(serves_a_fresh_client, console.server)
        log = console.query_one(EventLog)
        await until(pilot, lambda: any("a bug in a view [/x]" in line for line in log.lines), "the error")
        assert console.is_running
        assert await asyncio.to_thread(serves_a_fresh_client, console.server)
