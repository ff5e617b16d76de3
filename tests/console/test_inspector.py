"""The console as an inspector, driven by its keys: the client report (r), a session's
transcript (Enter, w, Esc), the log's filter (f), search (/ and n) and follow (End), tables
that follow new rows, and fault rows that say which rule and which key is theirs."""

from __future__ import annotations

import asyncio
import ftplib
import io

from tests.support.pilot import SIZE, row, type_line, until
from tests.support.servers import connect, payload
from tui.console.widgets.event_log import EventLog
from tui.console.widgets.fault_panel import FaultPanel
from tui.console.widgets.live import ReportTable, SessionTable
from tui.console.widgets.path_prompt import ConfirmPrompt, PathPrompt, TextPrompt
from tui.console.widgets.transcript import TranscriptScreen
from tui.engine import events as ev
from tui.engine.events import Event
from tui.engine.sessions import MAX_CLOSED_SESSIONS


def retried_upload(server) -> None:
    """ftplib: an upload that fails once and is sent again at once, on the same session."""
    ftp = connect(server)
    try:
        ftp.storbinary("STOR a.bin", io.BytesIO(payload(5000)))
    except ftplib.error_temp:
        ftp.storbinary("STOR a.bin", io.BytesIO(payload(5000)))
    assert ftp.voidcmd("NOOP").startswith("200")
    ftp.quit()


def failed_download(server) -> None:
    ftp = connect(server)
    try:
        ftp.retrbinary("RETR d.bin", lambda b: None)
    except ftplib.error_temp:
        pass
    ftp.quit()


async def test_r_shows_the_report_and_enter_opens_the_transcript(console, tmp_path):
    server = console.server
    (server.root / "d.bin").write_bytes(b"d" * 1000)
    server.board.add("upload=451,times=1")
    server.board.add("download=450,times=1")
    async with console.run_test(size=(160, 45)) as pilot:
        await asyncio.to_thread(retried_upload, server)
        await asyncio.to_thread(failed_download, server)
        await until(pilot, lambda: "report [b]2 faults: 1 recovered, 1 pending[/b]" in console.status_text,
                    "the report's summary in the header")
        await pilot.press("r")
        report = console.query_one(ReportTable)
        assert report.display and console.focused is report
        await until(pilot, lambda: report.row_count == 2, "two accounts")
        newest = report.account_at_cursor()
        assert (newest.point, newest.session, newest.reaction) == ("download", 2, "gave-up")
        retried = next(a for a in report.accounts.values() if a.point == "upload")
        assert (retried.reaction, retried.outcome) == ("retried", "recovered")
        await pilot.press("down")  # the older account: the upload's session
        assert report.account_at_cursor().session == 1

        await pilot.press("enter")
        assert isinstance(console.screen, TranscriptScreen)
        transcript = console.screen
        text = transcript.text()
        assert text.splitlines()[0].startswith("Session #1 · testuser@127.0.0.1:")
        lines = transcript.lines
        assert lines[0].endswith("session opened from " + lines[0].split("from ")[1])
        stors = [i for i, line in enumerate(lines) if line.endswith("<- STOR a.bin")]
        fault = next(i for i, line in enumerate(lines) if "FAULT upload -> 451" in line)
        assert len(stors) == 2 and stors[0] < fault < stors[1]  # the fault between the two tries
        assert all(line.split()[0].startswith("+") for line in lines if line)
        assert "retried STOR /a.bin on the same connection" in text

        await pilot.press("w")
        assert isinstance(console.screen, PathPrompt)
        written = tmp_path / "session-1.txt"
        await type_line(pilot, str(written))
        await pilot.press("enter")
        await until(pilot, written.exists, "the transcript file")
        assert written.read_text(encoding="utf-8") == transcript.text()
        await pilot.press("w")  # again, over the same file: it asks first
        await type_line(pilot, str(written))
        await pilot.press("enter")
        assert isinstance(console.screen, ConfirmPrompt)
        written.write_text("mine")
        await pilot.press("n")
        assert written.read_text() == "mine" and isinstance(console.screen, TranscriptScreen)
        await pilot.press("escape")
        assert not isinstance(console.screen, TranscriptScreen)
        assert console.focused is report  # back where it was

        await pilot.press("r")
        assert not report.display


async def test_f_filters_the_log_and_its_border_says_how(console):
    server = console.server
    server.board.add("upload=451,times=1")
    async with console.run_test(size=SIZE) as pilot:
        await asyncio.to_thread(retried_upload, server)
        await asyncio.to_thread(lambda: connect(server).quit())
        log = console.query_one(EventLog)
        sessions = console.query_one(SessionTable)
        await until(pilot, lambda: sessions.row_count == 2 and "#2 session closed" in log.lines[-1],
                    "both sessions")
        await pilot.press("f")
        assert log.filter == "faults" and "faults only" in log.border_title
        assert len(log.lines) == 1 and " FAULT upload -> 451" in log.lines[0]
        await pilot.press("f")  # the session selected in Sessions: the newest, #2
        assert log.filter == "session" and "session #2" in log.border_title
        assert log.lines and all(" #2 " in line for line in log.lines)
        await pilot.press("f")
        assert log.filter == "errors"
        assert all(" FAULT " in line or " -> 4" in line or "transfer" in line for line in log.lines)
        await pilot.press("f")
        assert log.filter == "all" and len(log.lines) == len(log.entries)


async def test_search_highlights_and_n_goes_to_the_next_hit(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await asyncio.to_thread(retried_upload, server)
        log = console.query_one(EventLog)
        await until(pilot, lambda: sum("<- STOR" in line for line in log.lines) == 3, "three uploads")
        await pilot.press("slash")
        assert isinstance(console.screen, TextPrompt)
        await type_line(pilot, "stor a")
        await pilot.press("enter")
        first = log.hit
        assert "STOR a" in log.lines[first] and not log.following
        assert "'stor a'" in log.border_subtitle and "paused" in log.border_subtitle
        await pilot.press("n")
        assert log.hit != first and "STOR a" in log.lines[log.hit]
        await pilot.press("end")  # End follows again, wherever the focus is
        assert log.following and "following" in log.border_subtitle


async def test_scrolling_up_pauses_the_log_and_end_follows_again(console):
    server = console.server
    async with console.run_test(size=(100, 30)) as pilot:
        for _ in range(4):
            await asyncio.to_thread(retried_upload, server)
        log = console.query_one(EventLog)
        await until(pilot, lambda: log.max_scroll_y > 5, "more lines than the log shows")
        assert log.following and log.is_vertical_scroll_end
        log.focus()
        await pilot.press("pageup")
        assert not log.following and "paused" in log.border_subtitle
        held = log.scroll_y
        await asyncio.to_thread(retried_upload, server)
        count = len(log.lines)
        await until(pilot, lambda: len(log.lines) > count, "new lines")
        assert log.scroll_y == held  # what the user looks at stays put
        console.query_one(FaultPanel).focus()  # End works from anywhere
        await pilot.press("end")
        assert log.following
        await until(pilot, lambda: log.is_vertical_scroll_end, "the end of the log")


async def test_tables_follow_new_rows_until_the_cursor_goes_up(console):
    server = console.server
    async with console.run_test(size=SIZE) as pilot:
        sessions = console.query_one(SessionTable)
        for _ in range(3):
            await asyncio.to_thread(lambda: connect(server).quit())
        await until(pilot, lambda: sessions.row_count == 3, "three sessions")
        assert sessions.session_at_cursor() == 3  # the newest is selected
        sessions.focus()
        await pilot.press("up")
        assert not sessions.following and "paused" in sessions.border_subtitle
        assert sessions.session_at_cursor() == 2
        await asyncio.to_thread(lambda: connect(server).quit())
        await until(pilot, lambda: sessions.row_count == 4, "a fourth session")
        assert sessions.session_at_cursor() == 2  # the selected row does not jump
        await pilot.press("end")
        assert sessions.following and sessions.session_at_cursor() == 4


async def test_rows_name_their_rule_and_only_the_quick_row_has_the_key(console):
    board = console.server.board
    async with console.run_test(size=SIZE) as pilot:
        await pilot.press("d")
        board.add("download=450,path=*.iso")  # a second download rule: no "d" of its own
        panel = console.query_one(FaultPanel)
        await until(pilot, lambda: len(panel.rows()) == 3, "three rows")
        first, second = [r for r in panel.rows() if r.point == "download"]
        assert (first.quick, second.quick) == ("d", "")
        ids = lambda: [str(i.render()) for r in (first, second) for i in r.query(".id")]  # noqa: E731  (as they mount)
        await until(pilot, lambda: ids() == ["r1", "r2"], "the rule ids")
        placeholder = row(console, "upload")
        assert placeholder.rule is None and "no rule yet: u arms one with 426" in str(
            placeholder.query_one(".summary").render())

        await pilot.press("d")  # focus and disarm r1, then edit it into a list rule
        await pilot.press("e")
        await type_line(pilot, "list=450")
        await pilot.press("enter")
        await until(pilot, lambda: first.point == "list", "the row to follow the edit")
        assert str(first.query_one(".point").render()) == "list" and first.quick == ""
        assert second.quick == "d"  # now the first download rule: d acts on it
        await pilot.press("d")
        assert board.get(second.rule_id).enabled is False and board.get(first.rule_id).point == "list"


async def test_a_throttled_transfer_shows_while_it_runs_as_shaping(console):
    """A slow download has its row (moving, in the shaping colour) and its session reads
    downloading from the start, not only when it ends; the log calls it SHAPE, not FAULT."""
    server = console.server
    (server.root / "slow.bin").write_bytes(payload(300_000))
    server.board.add("download,rate=100000")
    async with console.run_test(size=SIZE) as pilot:
        done = asyncio.get_running_loop().create_future()

        def slow_download() -> None:
            ftp = connect(server)
            try:
                ftp.retrbinary("RETR slow.bin", lambda b: None)
            finally:
                ftp.quit()

        task = asyncio.create_task(asyncio.to_thread(slow_download))
        task.add_done_callback(lambda _: done.set_result(True))
        transfers = console.query_one("#transfers")
        sessions = console.query_one(SessionTable)
        await until(pilot, lambda: any(row["result"] == ("… ~ r1", "magenta")
                                       for row in transfers.cells.values()), "the running transfer's row")
        assert not done.done(), "the row came before the transfer ended"
        await until(pilot, lambda: any(row["state"][0] == "downloading" for row in sessions.cells.values()),
                    "the session downloading")
        log = console.query_one(EventLog)
        assert any(" SHAPE download 100000 B/s" in line for line in log.lines)
        assert not any(" FAULT " in line for line in log.lines)
        await task
        await until(pilot, lambda: any(row["result"] == ("226 ~ r1", "green")
                                       for row in transfers.cells.values()), "the finished transfer")


async def test_a_report_row_names_the_fault_once(console):
    """A refused greeting has no command or file: its row says `connect → 421`, and an upload's
    says its point, command and file."""
    server = console.server
    server.board.add("connect=421,times=1")
    server.board.add("upload=451,times=1")
    async with console.run_test(size=(160, 45)) as pilot:
        def refused_then_retried() -> None:
            try:
                connect(server)
            except ftplib.error_temp:
                pass
            retried_upload(server)
        await asyncio.to_thread(refused_then_retried)
        await pilot.press("r")
        report = console.query_one(ReportTable)
        await until(pilot, lambda: report.row_count == 2, "two accounts")
        faults = {a.point: report.cells_of(a)["fault"][0] for a in report.accounts.values()}
        assert faults == {"connect": "connect → 421", "upload": "upload STOR /a.bin → 451"}


async def test_a_transfer_row_names_the_deciding_rule_not_the_shaping_one(console):
    """A delayed 451: the delay's SHAPE comes after the 451's FAULT, and the row still says 451 ⚡ r2."""
    server = console.server
    server.board.add("upload,delay=0.2")
    server.board.add("upload=451")
    async with console.run_test(size=SIZE) as pilot:
        def failed_upload() -> None:
            ftp = connect(server)
            try:
                ftp.storbinary("STOR a.bin", io.BytesIO(payload(5000)))
            except ftplib.error_temp:
                pass
            ftp.quit()
        await asyncio.to_thread(failed_upload)
        transfers = console.query_one("#transfers")
        await until(pilot, lambda: [row["result"] for row in transfers.cells.values()]
                    == [("451 ⚡ r2", "bold red")], "the failed upload's row")
        log = console.query_one(EventLog)
        assert any(" SHAPE upload" in line for line in log.lines)


async def test_a_transfer_that_ends_in_a_batch_of_its_own_shows_its_end(console):
    """The console drains events in batches: a transfer's start and fault in one, its end
    alone in the next (a tmux run caught the row stuck at `… ~ r1`)."""
    async with console.run_test(size=SIZE) as pilot:
        transfers = console.query_one("#transfers")
        about = {"session": 1, "transfer": 7, "path": "/a.bin", "direction": "upload"}
        transfers.apply([Event(1, 0.0, ev.PROGRESS, bytes=0, **about),
                         Event(2, 0.0, ev.FAULT, rule="r1", code=451, **about)])
        await pilot.pause()
        assert transfers.cells["7"]["result"] == ("… ~ r1", "magenta")
        transfers.apply([Event(3, 0.0, ev.TRANSFER, bytes=4096, code=451, **about)])
        await pilot.pause()
        assert transfers.cells["7"]["result"] == ("451 ⚡ r1", "bold red")


async def test_a_table_follows_while_its_oldest_rows_are_forgotten(console):
    """More closed sessions than the table keeps: rows go from the top, and the table still
    follows the newest (a row removed above the cursor is not the user scrolling back)."""
    async with console.run_test(size=SIZE) as pilot:
        sessions = console.query_one(SessionTable)
        for sid in range(1, MAX_CLOSED_SESSIONS + 7):
            sessions.put(str(sid), {"#": (str(sid), ""), "state": ("closed", "")})
            if sid > MAX_CLOSED_SESSIONS:
                sessions.drop([str(sid - MAX_CLOSED_SESSIONS)])
            await pilot.pause()
            assert sessions.following and sessions.selected_key() == str(sid)
        assert len(sessions.cells) == MAX_CLOSED_SESSIONS
