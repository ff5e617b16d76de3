"""The console driven by its real keys (Textual Pilot), with a real server and ftplib client:
the upload and download faults armed, disarmed and given a code from the keyboard, the
panel, header, log and tables following what happens, help and the command palette, and
``q`` quitting promptly with a transfer running; the exposure warnings in the header, as
written; a session hung up after three wrong passwords stays closed in Sessions; a changed
row repaints its own line, not the whole table.

Rules added and edited in the form are in test_rule_form.py, saving and loading profiles
in test_save_and_load.py.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import replace

from textual.command import CommandList
from textual.widgets import Select, Switch

from tests.support.pilot import SIZE, armed_on_screen, download, row, until, upload
from tests.support.ftp import three_wrong_passwords
from tests.support.servers import DEADLINE, USER, connect, payload
from tui.console.widgets.help import HelpScreen
from tui.engine.points import POINTS
from tui.engine.rules import SECTIONS
from tui.console.widgets.event_log import EventLog
from tui.console.widgets.live import SessionTable, TransferTable
from tui.engine.points import PICKER_CODES
from tui.engine.server import FaultServer


async def test_keys_work_as_the_screen_opens(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("u")
        assert armed_on_screen(console, "upload")
        rule = console.server.board.first("upload")
        assert (rule.enabled, rule.code) == (True, 426)  # the default code


async def test_u_arms_and_disarms_the_upload_fault_live(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        assert not armed_on_screen(console, "upload")
        assert (await asyncio.to_thread(upload, server, "a.bin")).startswith("226")

        await pilot.press("u")
        assert armed_on_screen(console, "upload")
        assert console.focused is row(console, "upload").query_one(Switch)
        assert (await asyncio.to_thread(upload, server, "b.bin")).startswith("426 ")
        log = console.query_one(EventLog)
        await until(pilot, lambda: any(" FAULT upload -> 426" in line for line in log.lines),
                    "the fired fault in the log")
        await until(pilot, lambda: str(row(console, "upload").query_one(".count").render()) == "fired 1",
                    "the fired counter")
        transfers = console.query_one(TransferTable)
        await until(pilot, lambda: any(row["result"][0] == "426 ⚡ r1" for row in transfers.cells.values()),
                    "the fault in the transfers table")

        await pilot.press("u")
        assert not armed_on_screen(console, "upload")
        assert (await asyncio.to_thread(upload, server, "c.bin")).startswith("226")
        assert (server.root / "b.bin").read_bytes() == b"x" * 10_000


async def test_d_and_number_keys_set_the_download_code(console):
    server = console.server
    (server.root / "f.bin").write_bytes(payload(100_000))
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        assert armed_on_screen(console, "download")
        for key, code in zip("12345", PICKER_CODES):
            await pilot.press(key)
            assert row(console, "download").query_one(Select).value == code
            assert server.board.first("download").code == code
            reply = await asyncio.to_thread(download, server, "f.bin")
            assert reply.startswith(f"{code} "), reply
        assert server.board.first("upload") is None  # the number keys touched only the focused row
        await pilot.press("d")
        assert (await asyncio.to_thread(download, server, "f.bin")).startswith("226")


async def test_number_keys_before_arming_choose_the_code_it_arms_with(console):
    async with console.run_test(size=SIZE) as pilot:
        row(console, "upload").query_one(Switch).focus()
        await pilot.press("4")
        assert console.server.board.first("upload") is None  # still not armed
        await pilot.press("u")
        assert console.server.board.first("upload").code == 451
        assert (await asyncio.to_thread(upload, console.server, "n.bin")).startswith("451 ")


async def test_x_disarms_everything(console):
    server = console.server
    (server.root / "f.bin").write_bytes(b"data")
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("u", "d")
        assert armed_on_screen(console, "upload") and armed_on_screen(console, "download")
        assert "faults armed 2" in str(console.query_one("#status").render())
        await pilot.press("x")
        assert not armed_on_screen(console, "upload")
        assert not armed_on_screen(console, "download")
        await until(pilot, lambda: "faults armed 0" in str(console.query_one("#status").render()), "header")
        assert (await asyncio.to_thread(upload, server, "u.bin")).startswith("226")
        assert (await asyncio.to_thread(download, server, "f.bin")).startswith("226")


async def test_switch_click_and_select_change_write_to_the_board(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.click(row(console, "download").query_one(Switch))
        assert console.server.board.first("download").enabled
        row(console, "download").query_one(Select).value = 452
        await pilot.pause()
        assert console.server.board.first("download").code == 452


async def test_rules_changed_elsewhere_show_up(console):
    """The board is the truth: a rule set by a script appears in the panel."""
    async with console.run_test(size=SIZE) as pilot:
        console.server.board.add("download=452:Disk full")
        await until(pilot, lambda: armed_on_screen(console, "download"), "the row to arm")
        assert row(console, "download").query_one(Select).value == 452
        assert str(row(console, "download").query_one(".summary").render()) == "Disk full"


async def test_sessions_table_follows_a_session(console):
    async with console.run_test(size=SIZE) as pilot:
        ftp = await asyncio.to_thread(connect, console.server)
        await asyncio.to_thread(ftp.mkd, "sub")
        await asyncio.to_thread(ftp.cwd, "sub")
        table = console.query_one(SessionTable)
        cell = lambda column: str(table.get_cell("1", column))  # noqa: E731
        await until(pilot, lambda: table.row_count == 1 and cell("cwd") == "/sub", "cwd")
        assert cell("user") == "testuser"
        assert cell("command") == "CWD sub"
        await asyncio.to_thread(ftp.quit)
        await until(pilot, lambda: cell("state") == "closed", "closed state")


async def test_a_changed_row_repaints_its_own_line_only(console, monkeypatch):
    """update_cell() alone repaints the whole table; a changed cell costs its row's line."""
    from textual.widgets import DataTable

    async with console.run_test(size=SIZE) as pilot:
        ftp = await asyncio.to_thread(connect, console.server)
        await asyncio.to_thread(ftp.mkd, "sub")
        table = console.query_one(SessionTable)
        await until(pilot, lambda: table.row_count == 1 and str(table.get_cell("1", "command")) == "MKD sub",
                    "the session's row")
        await pilot.pause()  # the new row's own repaint (its dimensions, when idle) is done
        repaints = []
        refresh = DataTable.refresh

        def recorded(self, *regions, **kwargs):
            if self is table:
                repaints.append(regions)
            return refresh(self, *regions, **kwargs)

        monkeypatch.setattr(DataTable, "refresh", recorded)
        await asyncio.to_thread(ftp.cwd, "sub")
        await until(pilot, lambda: str(table.get_cell("1", "cwd")) == "/sub", "the new cwd")
        monkeypatch.undo()
        assert repaints and all(repaints), f"a whole-table repaint among {repaints}"
        await asyncio.to_thread(ftp.quit)


async def test_c_clears_the_log(console):
    async with console.run_test(size=SIZE) as pilot:
        await asyncio.to_thread(upload, console.server, "a.bin")
        log = console.query_one(EventLog)
        # the session's close comes after the upload returned: wait for it, or it may be
        # the first line after the clear
        await until(pilot, lambda: any("session closed" in e.line for e in log.entries),
                    "the session's last line")
        await pilot.press("c")
        assert log.line_count == 0


async def test_help_screen_lists_every_key(console):
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(console.screen, HelpScreen)
        text = " ".join(str(w.render()) for w in console.screen.query("Static"))
        for word in ("upload fault", "download fault", "425", "452", "Disarm every fault", "Clear the log", "Quit",
                     "Add a fault rule", "Save the rules", "Load the rules", "cmd:VERB", "times=N", "after=BYTES"):
            assert word.lower() in text.lower(), word
        # every fault point has its own column, however long its name
        for name in ("download-start", "upload-start", "list-start"):
            assert re.search(rf"{name} {{2,}}reply to", text), name
        # and every point and option of the one table has its row, in its section
        for title, options in SECTIONS:
            assert title.capitalize() in text, title
            for option in options:
                assert re.search(rf"{re.escape(option.title)} {{2,}}\S", text), option.title
        for point in POINTS:
            assert point in text, point
        await pilot.press("escape")
        assert not isinstance(console.screen, HelpScreen)
        await pilot.press("u")  # keys work again on the main screen
        assert armed_on_screen(console, "upload")


async def test_command_palette_runs_the_same_actions(console):
    async with console.run_test(size=SIZE) as pilot:
        titles = [c.title for c in console.get_system_commands(console.screen)]
        for wanted in ("upload fault and focus its row (u)", "download fault", "Disarm every fault and chaos (x)",
                       "Clear the log (c)", "Add a fault rule", "Show every key", "code to 451 (4)"):
            assert any(wanted in t for t in titles), wanted
        await pilot.press("ctrl+p")
        await pilot.press(*"upload fault")
        await until(pilot, lambda: console.screen.query(CommandList) and console.screen.query_one(CommandList).option_count,
                    "palette matches")
        await pilot.press("enter")
        await until(pilot, lambda: console.server.board.first("upload") is not None, "the palette action")
        assert console.server.board.first("upload").enabled


def _can_serve_again(settings, port: int) -> bool:
    """A new server on the same port starts (what a user restarting the console needs)."""
    again = FaultServer(replace(settings, port=port))
    again.stop()
    return True


async def test_q_quits_and_frees_the_port_while_a_transfer_runs(console, settings):
    server = console.server
    port = server.port
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_upload() -> str:
        ftp = connect(server)
        ftp.voidcmd("TYPE I")
        conn = ftp.transfercmd("STOR slow.bin")
        loop.call_soon_threadsafe(started.set)
        end = time.monotonic() + DEADLINE
        try:
            while time.monotonic() < end:  # a slow client: 8 KiB every 10 ms until cut off
                conn.sendall(b"y" * 8192)
                time.sleep(0.01)
        except OSError as err:
            return f"data connection closed: {err}"
        finally:
            conn.close()
        return "still sending at the deadline"

    async with console.run_test(size=SIZE) as pilot:
        client = asyncio.create_task(asyncio.to_thread(slow_upload))
        await asyncio.wait_for(started.wait(), DEADLINE)
        t0 = time.monotonic()
        await pilot.press("q")
    assert time.monotonic() - t0 < 2.5
    assert server.wait_stopped(0)
    assert _can_serve_again(settings, port)
    assert (await asyncio.wait_for(client, DEADLINE)).startswith("data connection closed")


async def test_a_session_hung_up_after_three_wrong_passwords_shows_closed(console, monkeypatch):
    """pyftpdlib tells the third failed login after the session closed: the row stays closed."""
    from tui.engine.ftp.control import FaultFTPHandler

    monkeypatch.setattr(FaultFTPHandler, "auth_failed_timeout", 0)  # no 3 s wait per refusal
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        replies = await asyncio.to_thread(three_wrong_passwords, server.port)
        assert replies[-1].startswith("530") and replies[-1].endswith("Disconnecting.")
        table = console.query_one(SessionTable)
        failed = lambda: [e for e in server.history.since(0, "login") if not e.ok]  # noqa: E731
        # every event told (the third login after the close) and drawn
        await until(pilot, lambda: len(failed()) == 3 and len(console.feed) == 0 and not console.backlog,
                    "the three failed logins drawn")
        (sid,) = {e.session for e in failed()}
        assert str(table.get_cell(str(sid), "state")) == "closed"
        assert str(table.get_cell(str(sid), "user")) == USER
        assert server.sessions() == []


async def test_warnings_show_in_the_header_as_written(settings):
    from tui.console.app import FaultConsole

    warnings = ["the FTP server listens on 0.0.0.0, beyond this machine, with the default password "
                "'testpass': anyone who reaches it can read and write /srv/[b]ftp[/b]",
                "the control API listens on 0.0.0.0, beyond this machine: anyone with its token can "
                "change the faults"]
    app = FaultConsole(FaultServer(settings), warnings=warnings)
    async with app.run_test(size=SIZE) as pilot:
        shown = app.query_one("#warnings")
        text = str(shown.render())
        assert text == "\n".join(f"warning: {w}" for w in warnings)  # as written: no markup
        assert shown.region.y < app.query_one("#faults").region.y  # above the faults, in the header
        assert shown.region.height >= 2
        await pilot.press("u")  # the console works as ever
        assert armed_on_screen(app, "upload")


async def test_no_warnings_no_warning_line(console):
    async with console.run_test(size=SIZE):
        assert not console.query("#warnings")


async def test_the_console_has_its_server_send_a_mib_at_a_time(console):
    from tui.engine.ftp.data import DATA_BUFFER

    async with console.run_test(size=SIZE):
        assert console.server._dtp.ac_out_buffer_size == DATA_BUFFER
