"""The client report's fold, on event streams shaped like the server's.

Each case writes the exchange a real client had (the command, its final reply, the
transfer between them) and checks the account the report gives. Real clients against the
real server are in tests/clients/test_report_clients.py; these pin each rule of reading.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.engine.events import Event
from tui.engine.report import (
    ACCEPTED, DELETED, FELL_BACK, GAVE_UP, MOVED_ON, NOT_RECOVERED, PENDING, RECONNECTED, RECOVERED,
    RESUMED, RETRIED, VERIFIED, WAITING, ClientReport, format_report, read_journal,
    report_from_journal, summary_line,
)


class Stream:
    """Events as the server emits them, with a clock the test moves."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.now = 1000.0
        self.sessions = 0

    def emit(self, kind: str, session: int = 0, **fields) -> Event:
        event = Event(len(self.events) + 1, self.now, kind, session, **fields)
        self.events.append(event)
        return event

    def wait(self, seconds: float) -> None:
        self.now += seconds

    def connect(self, ip: str = "127.0.0.1", user: str = "testuser") -> int:
        self.sessions += 1
        sid = self.sessions
        self.emit("session.open", sid, address=f"{ip}:{40000 + sid}")
        self.emit("reply", sid, code=220, message="ready")
        self.cmd(sid, "USER", user, 331)
        self.cmd(sid, "PASS", "******", 230, cwd="/")
        self.emit("login", sid, user=user, cwd="/")
        return sid

    def cmd(self, sid: int, command: str, arg: str = "", code: int | None = 200, message: str = "ok",
            cwd: str = "", fault: dict | None = None) -> None:
        self.emit("command", sid, command=command, arg=arg)
        if fault is not None:
            self.emit("fault", sid, command=command, **fault)
        if code is not None:
            self.emit("reply", sid, code=code, message=message, cwd=cwd)

    def transfer(self, sid: int, command: str, path: str, code: int | None, nbytes: int = 1000,
                 size: int = -1, offset: int = 0, fault: dict | None = None,
                 reply_waits: bool = False) -> None:
        """STOR/RETR/LIST: 150, the data, maybe a fault at the end, the final reply and then
        the transfer event, as the server sends them; ``reply_waits``: the transfer event
        first (a reply held back, as for a cut download, or none at all)."""
        self.emit("command", sid, command=command, arg=path)
        self.emit("reply", sid, code=150, message="opening")
        if fault is not None:
            self.emit("fault", sid, command=command, path=path, **fault)
        direction = {"STOR": "upload", "APPE": "upload", "RETR": "download"}.get(command, "list")
        if code is not None and not reply_waits:
            self.emit("reply", sid, code=code, message="done")
        self.emit("transfer", sid, command=command, path=path, direction=direction, bytes=nbytes,
                  size=size, offset=offset, code=code)
        if code is not None and reply_waits:
            self.emit("reply", sid, code=code, message="done")

    def close(self, sid: int, quit: bool = True) -> None:
        if quit:
            self.cmd(sid, "QUIT", "", 221)
        self.emit("session.close", sid, address="")

    def report(self, final: bool = True, window: float = 60.0):
        report = ClientReport(window)
        report.apply(self.events)
        if final:
            report.close()
        return report.snapshot()


def fault(point: str, code: int | None = 451, rule: str = "r1", action: str = "") -> dict:
    return {"rule": rule, "point": point, "code": code, "message": "x",
            "action": action or (f"reply {code}" if code else "never answer")}


def only(report):
    assert len(report.accounts) == 1, report.accounts
    return report.accounts[0]


def test_a_retry_on_the_same_connection_that_succeeds():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.wait(1.0)
    s.transfer(sid, "STOR", "/a.bin", 226)
    a = only(s.report(final=False))
    assert (a.reaction, a.outcome, a.attempts) == (RETRIED, RECOVERED, 1)
    assert a.settled, "a success settles the account at once, window or not"
    assert a.first_attempt_after == 1.0 and a.recovered_after == 1.0 and a.backoff == [1.0]
    assert (a.session, a.client, a.user, a.rule, a.point, a.command, a.path, a.code) == (
        1, "127.0.0.1", "testuser", "r1", "upload", "STOR", "/a.bin", 451)
    assert a.sentence == ("testuser@127.0.0.1 retried STOR /a.bin on the same connection after "
                          "1.00 s and recovered (1 attempt).")


def test_a_recovery_time_that_reads_as_the_first_attempts_is_said_once():
    """curl --retry 2: STOR again 1.002 s after the 451, its 226 at 1.003 s; the sentence
    said 'after 1.00 s and recovered after 1.00 s'."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.wait(1.002)
    s.emit("command", sid, command="STOR", arg="/a.bin")
    s.emit("reply", sid, code=150, message="opening")
    s.wait(0.001)
    s.emit("reply", sid, code=226, message="done")
    s.emit("transfer", sid, command="STOR", path="/a.bin", direction="upload", bytes=1000, code=226)
    a = only(s.report())
    assert (a.first_attempt_after, a.recovered_after) == (1.002, 1.003)
    assert a.sentence.endswith("on the same connection after 1.00 s and recovered (1 attempt).")


def test_an_ended_session_without_a_retry_gave_up_and_stays_pending_while_the_window_is_open():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.close(sid)
    live = only(s.report(final=False))
    assert (live.reaction, live.outcome, live.settled) == (GAVE_UP, PENDING, False)
    done = only(s.report())
    assert (done.reaction, done.outcome, done.settled) == (GAVE_UP, NOT_RECOVERED, True)
    assert "ended the session without trying STOR /a.bin again" in done.sentence
    assert "cannot tell whether the client reported a failure" in done.sentence  # never a guess


def test_nothing_yet_is_waiting():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/d.bin", 451, size=1000, fault=fault("download"))
    a = only(s.report(final=False))
    assert (a.reaction, a.outcome) == (WAITING, PENDING)


def test_a_cut_download_resumed_with_rest_until_whole():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/big.iso", 426, nbytes=100000, size=300000,
               fault=fault("download", 426, action="cut after 100000 B"))
    s.wait(2.0)
    s.cmd(sid, "REST", "100000", 350)
    s.transfer(sid, "RETR", "/big.iso", 226, nbytes=200000, size=200000, offset=100000)
    a = only(s.report())
    assert (a.reaction, a.outcome, a.attempts, a.rest_offsets) == (RESUMED, RECOVERED, 1, [100000])
    assert a.bytes_again == 200000
    assert "resumed RETR /big.iso on the same connection from 100000" in a.sentence


def test_a_long_run_of_rest_offsets_is_shortened_in_the_sentence():
    """lftp against download=426,after=100000 on 1 MiB: ten cuts, ten REST offsets."""
    s = Stream()
    sid = s.connect()
    for offset in range(0, 1_000_001, 100_000):
        if offset:
            s.wait(2.0)
            s.cmd(sid, "REST", str(offset), 350)
        cut = offset < 1_000_000
        s.transfer(sid, "RETR", "/big.iso", 426 if cut else 226, nbytes=100000,
                   fault=fault("download", 426) if cut else None)
    first = s.report().accounts[0]
    assert first.rest_offsets == list(range(100_000, 1_000_001, 100_000))
    assert "from 100000, 200000, ..., 1000000 after 2.00 s" in first.sentence


def test_rest_counts_even_when_the_attempt_moves_no_data():
    """The offset comes from the REST in force, not only from the transfer event."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/big.iso", 426, fault=fault("download", 426))
    s.cmd(sid, "REST", "500", 350)
    s.cmd(sid, "RETR", "/big.iso", 550)
    a = only(s.report())
    assert (a.reaction, a.outcome, a.rest_offsets) == (RESUMED, NOT_RECOVERED, [500])


def test_a_size_check_that_goes_on_verified_and_hid_the_fault():
    """lftp's put: SIZE matches, MFMT, exit 0."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, nbytes=5000000, fault=fault("upload"))
    s.cmd(sid, "SIZE", "/a.bin", 213, message="5000000")
    s.cmd(sid, "MFMT", "20260101000000 /a.bin", 213)
    s.close(sid)
    a = only(s.report())
    assert (a.reaction, a.outcome, a.attempts) == (VERIFIED, ACCEPTED, 0)
    assert a.sentence == ("testuser@127.0.0.1 asked SIZE /a.bin, saw 5000000 and went on: "
                          "the 451 was hidden.")


def test_a_check_on_a_new_connection_is_said():
    """wget -c after download,stall: its timeout, then a new session asks SIZE, finds its
    copy whole and exits 0."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/d.bin", None, nbytes=1000, size=1000,
               fault=fault("download", None, action="never answer"))
    s.wait(5.0)
    s.close(sid, quit=False)
    again = s.connect()
    s.cmd(again, "SIZE", "d.bin", 213, message="1000")
    s.close(again, quit=False)
    a = only(s.report())
    assert (a.reaction, a.outcome) == (VERIFIED, ACCEPTED)
    assert a.sentence == ("testuser@127.0.0.1 asked SIZE /d.bin on a new connection, saw 1000 and "
                          "went on: the fault (never answer) was hidden.")


def test_a_date_asked_after_a_cut_download_is_not_a_check():
    """tnftp after download=426,after=100000: MDTM (to date its copy), QUIT, exit 0 with
    100000 of 300000 bytes. It checked nothing; it went on with a short file."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/d.bin", 426, nbytes=100000, size=300000,
               fault=fault("download", 426, action="cut after 100000 B"))
    s.cmd(sid, "MDTM", "d.bin", 213, message="20260101000000")
    s.close(sid)
    a = only(s.report())
    assert (a.reaction, a.outcome) == (MOVED_ON, NOT_RECOVERED)
    assert "went on (1 other command) without trying RETR /d.bin again or checking it" in a.sentence


def test_a_new_connection_that_retries_reconnected():
    s = Stream()
    first = s.connect()
    s.transfer(first, "STOR", "/a.bin", 426, fault=fault("upload", 426))
    s.close(first, quit=False)
    s.wait(15.0)
    second = s.connect()
    s.transfer(second, "STOR", "/a.bin", 226)
    a = only(s.report())
    assert (a.reaction, a.outcome, a.first_attempt_after) == (RECONNECTED, RECOVERED, 15.0)
    assert "reconnected and retried STOR /a.bin" in a.sentence


def test_another_client_or_a_connection_opened_before_the_fault_is_not_an_attempt():
    s = Stream()
    worker = s.connect()  # a parallel connection of the same client, open before the fault
    sid = s.connect()
    other = s.connect(ip="127.0.0.2")
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.transfer(other, "STOR", "/a.bin", 226)
    s.transfer(worker, "STOR", "/a.bin", 226)
    s.close(sid)
    assert (only(s.report()).reaction, only(s.report()).outcome) == (GAVE_UP, NOT_RECOVERED)


def test_a_relative_path_is_resolved_against_the_directory_at_the_time():
    s = Stream()
    sid = s.connect()
    s.cmd(sid, "CWD", "sub", 250, cwd="/sub")
    s.transfer(sid, "STOR", "/sub/a.bin", 451, fault=fault("upload"))  # faults carry the full path
    s.cmd(sid, "CWD", "/", 250, cwd="/")
    s.cmd(sid, "CWD", "sub", 250, cwd="/sub")
    s.emit("command", sid, command="STOR", arg="a.bin")  # what the client typed
    s.emit("reply", sid, code=150, message="")
    s.emit("transfer", sid, command="STOR", path="/sub/a.bin", direction="upload", bytes=9, code=226)
    s.emit("reply", sid, code=226, message="done", cwd="/sub")
    a = only(s.report())
    assert (a.path, a.reaction, a.outcome) == ("/sub/a.bin", RETRIED, RECOVERED)


def test_a_passive_mode_fallback_fell_back():
    s = Stream()
    sid = s.connect()
    s.cmd(sid, "EPSV", "", 500, fault=fault("cmd:EPSV", 500))
    s.cmd(sid, "PASV", "", 227)
    s.transfer(sid, "RETR", "/d.bin", 226)
    a = only(s.report())
    assert (a.reaction, a.outcome) == (FELL_BACK, RECOVERED)
    assert "fell back from EPSV to PASV" in a.sentence


def test_a_fallback_to_long_passive_mode_fell_back():
    """inetutils ftp after data=425 on PASV: LPSV, which the server does not know, then QUIT."""
    s = Stream()
    sid = s.connect()
    s.cmd(sid, "PASV", "", 425, fault=fault("data", 425))
    s.cmd(sid, "LPSV", "", 500)
    s.close(sid)
    a = only(s.report())
    assert (a.reaction, a.outcome, a.attempts) == (FELL_BACK, NOT_RECOVERED, 1)
    assert "fell back from PASV to LPSV on the same connection" in a.sentence


def test_a_data_fault_retried_with_the_same_command_is_a_retry():
    s = Stream()
    sid = s.connect()
    s.cmd(sid, "PASV", "", 425, fault=fault("data", 425))
    s.cmd(sid, "PASV", "", 227)
    assert (only(s.report()).reaction, only(s.report()).outcome) == (RETRIED, RECOVERED)


def test_delete_then_upload_again_deleted():
    """rclone removes a file whose upload failed, then sends it again."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.cmd(sid, "DELE", "/a.bin", 250)
    s.transfer(sid, "STOR", "/a.bin", 226)
    a = only(s.report())
    assert (a.reaction, a.outcome) == (DELETED, RECOVERED)


def test_other_commands_and_no_attempt_moved_on():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.transfer(sid, "STOR", "/b.bin", 226)
    s.cmd(sid, "NOOP")
    a = only(s.report())
    assert (a.reaction, a.outcome) == (MOVED_ON, NOT_RECOVERED)
    assert "went on (1 other command) without trying STOR /a.bin again" in a.sentence  # NOOP is routine


def test_attempts_after_the_window_do_not_count():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.wait(61.0)
    s.transfer(sid, "STOR", "/a.bin", 226)
    a = only(s.report())
    assert (a.attempts, a.outcome) == (0, NOT_RECOVERED)
    assert only(s.report(window=120)).outcome == RECOVERED


def test_failed_retries_are_counted_with_their_backoff():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    for gap in (1.0, 2.0):
        s.wait(gap)
        s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    report = s.report()
    first = report.accounts[0]
    assert (first.attempts, first.backoff, first.outcome) == (2, [1.0, 2.0], NOT_RECOVERED)
    assert "did not recover (2 attempts)" in first.sentence
    assert len(report.accounts) == 3, "each fault that fired has its own account"


def test_a_login_fault_then_a_new_session_logs_in():
    s = Stream()
    s.sessions += 1
    sid = s.sessions
    s.emit("session.open", sid, address="127.0.0.1:5000")
    s.emit("reply", sid, code=220)
    s.cmd(sid, "USER", "testuser", 331)
    s.cmd(sid, "PASS", "******", 421, fault=fault("login", 421))
    s.emit("login", sid, user="testuser", ok=False)
    s.emit("session.close", sid)
    s.wait(1.0)
    s.connect()
    a = only(s.report())
    assert (a.point, a.user, a.reaction, a.outcome) == ("login", "testuser", RECONNECTED, RECOVERED)


def test_a_shaping_rule_whose_reply_succeeded_is_recovered_at_once():
    s = Stream()
    sid = s.connect()
    s.emit("command", sid, command="NOOP", arg="")
    s.emit("fault", sid, command="NOOP", **fault("cmd:NOOP", None, action="2 s late, normal reply"))
    s.wait(2.0)
    s.emit("reply", sid, code=200, message="ok")
    a = only(s.report(final=False))
    assert (a.reaction, a.outcome, a.recovered_after, a.settled) == (MOVED_ON, RECOVERED, 2.0, True)
    assert "did not fail NOOP" in a.sentence


def test_a_stall_then_the_clients_own_timeout_or_a_kill():
    """inetutils ftp has no timeout: killed after 40 s, it looked like a client timing out.
    The journal cannot tell the two apart, and the sentence says so."""
    s = Stream()
    sid = s.connect()
    s.cmd(sid, "LIST", "", None, fault=fault("list-start", None, action="never answer"))
    s.wait(5.0)
    s.close(sid, quit=False)
    a = only(s.report())
    assert (a.reaction, a.outcome, a.code) == (GAVE_UP, NOT_RECOVERED, None)
    assert a.sentence == ("testuser@127.0.0.1 closed the connection 5.00 s after LIST / got no "
                          "answer (its own timeout, or it was stopped: the journal cannot tell) "
                          "and did not try again.")


def test_logging_in_again_after_a_stall_is_not_going_on():
    """lftp after download,stall on a file it had whole: its timeout, a new session, FEAT,
    USER, PASS, OPTS, QUIT, exit 0. The report said moved-on (4 other commands)."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/d.bin", None, nbytes=1000, size=1000,
               fault=fault("download", None, action="never answer"))
    s.wait(5.0)
    s.close(sid, quit=False)
    again = s.connect()
    s.cmd(again, "OPTS", "UTF8 ON")
    s.close(again)
    a = only(s.report())
    assert (a.reaction, a.outcome) == (GAVE_UP, NOT_RECOVERED)
    assert ("got no answer (its own timeout, or it was stopped: the journal cannot tell), came back "
            "on a new connection and did not try again (every byte had been sent") in a.sentence


@pytest.mark.parametrize(("action", "code"), [("reply 421, hang up", 421), ("TCP reset", None)])
def test_a_fault_that_hangs_up_is_the_servers_end_of_the_session(action, code):
    """wget, tnftp, curl without --retry after login=421,drop: they do not come back. A
    reset is no stall either (curl -T against upload,reset: 'got no answer' after 0.00 s)."""
    s = Stream()
    s.sessions += 1
    sid = s.sessions
    s.emit("session.open", sid, address="127.0.0.1:5000")
    s.emit("reply", sid, code=220)
    s.cmd(sid, "USER", "testuser", 331)
    s.cmd(sid, "PASS", "******", code, fault=fault("login", code, action=action))
    s.emit("session.close", sid)
    a = only(s.report())
    assert (a.reaction, a.outcome) == (GAVE_UP, NOT_RECOVERED)
    assert a.sentence == f"testuser@127.0.0.1 was cut off after PASS ({action}) and did not come back."


@pytest.mark.parametrize("reply_waits", [False, True], ids=["reply-first", "transfer-first"])
def test_every_byte_sent_before_a_download_fault_is_said_not_guessed(reply_waits):
    """curl against download=451: the server sends the 451, then reports the transfer's
    bytes; the report read them only when they came first, and said nothing."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/d.bin", 451, nbytes=1000, size=1000, fault=fault("download"),
               reply_waits=reply_waits)
    s.close(sid)
    assert "every byte had been sent before the 451" in only(s.report()).sentence


def test_the_bytes_of_a_successful_attempt_count_though_they_come_after_its_reply():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, nbytes=5000, fault=fault("upload"))
    s.transfer(sid, "STOR", "/a.bin", 226, nbytes=5000)
    a = only(s.report(final=False))
    assert (a.outcome, a.settled, a.bytes_again) == (RECOVERED, True, 5000)
    cut = s.events[:-1]  # a journal that ends between the 226 and its transfer event
    report = ClientReport()
    report.apply(cut)
    assert only(report.snapshot()).outcome == PENDING
    report.close()
    assert (only(report.snapshot()).outcome, only(report.snapshot()).bytes_again) == (RECOVERED, 0)


def test_runs_in_one_journal_are_kept_apart():
    s = Stream()
    s.emit("run", run="a")
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 451, fault=fault("upload"))
    s.emit("run", run="b")  # the next run's session 1 is another client's session 1
    s.sessions = 0
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 226)
    a = only(s.report(final=False))
    assert (a.run, a.settled, a.outcome) == ("a", True, NOT_RECOVERED)


def test_a_journal_read_offline_gives_the_live_report(tmp_path):
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "RETR", "/big.iso", 426, fault=fault("download", 426))
    s.cmd(sid, "REST", "10", 350)
    s.transfer(sid, "RETR", "/big.iso", 226, offset=10)
    s.close(sid)
    lines = [json.dumps(e.to_dict()) for e in s.events]
    offline, warnings = report_from_journal(lines)
    assert warnings == []
    assert offline.snapshot() == s.report()
    truncated = [*lines[:5], '{"seq": 6, "ti', *lines[5:], "[1, 2]"]
    again, warnings = report_from_journal(truncated)
    assert again.snapshot() == s.report()
    assert warnings == ["line 6: not an event (Unterminated string starting at: line 1 column 12 "
                        "(char 11)); skipped", f"line {len(truncated)}: not an event (not an event); skipped"]


def test_the_report_as_text_markdown_and_json():
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a|b.bin", 451, fault=fault("upload"))
    s.transfer(sid, "STOR", "/a|b.bin", 226)
    report = s.report()
    assert summary_line(report.summary) == "1 fault: 1 recovered"
    text = format_report(report)
    assert text.startswith("client report: 1 fault: 1 recovered\n")
    assert "#1 r1 upload STOR /a|b.bin -> 451: retried, recovered" in text
    md = format_report(report, "md")
    assert "| retried | recovered | 1 |" in md and "/a\\|b.bin" in md
    data = json.loads(format_report(report, "json"))
    assert data["summary"] == {"faults": 1, "recovered": 1, "accepted": 0, "not-recovered": 0,
                               "pending": 0}
    wanted = {"seq", "time", "session", "client", "user", "rule", "point", "command", "path", "code",
              "action", "reaction", "outcome", "attempts", "first_attempt_after", "recovered_after",
              "sentence"}
    assert wanted <= set(data["faults"][0])


# --- any stream, even a broken one


KINDS = ["session.open", "command", "reply", "transfer", "fault", "login", "session.close", "run",
         "rule", "error", "transfer.progress"]
COMMANDS = ["STOR", "RETR", "LIST", "PASV", "EPSV", "REST", "SIZE", "DELE", "CWD", "USER", "PASS",
            "QUIT", "NOOP", "APPE", ""]
events = st.builds(
    lambda kind, session, command, arg, code, point: (kind, session, command, arg, code, point),
    st.sampled_from(KINDS), st.integers(0, 4), st.sampled_from(COMMANDS),
    st.sampled_from(["", "/a", "a", "10", "-la", "../x"]), st.one_of(st.none(), st.integers(100, 599)),
    st.sampled_from(["upload", "download", "list", "login", "data", "cmd:NOOP", "upload-start"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=80), st.integers(0, 80), st.booleans())
def test_any_event_stream_gives_one_account_per_fault_and_never_raises(items, cut, final):
    stream = [Event(i + 1, 1000.0 + i, kind, session, address=f"127.0.0.1:{session}",
                    command=command, arg=arg, path=arg, code=code, point=point, rule="r1")
              for i, (kind, session, command, arg, code, point) in enumerate(items)][:cut]
    report = ClientReport(window=10)
    for i in range(0, len(stream), 7):  # in batches, as a live reader gets them
        report.apply(stream[i:i + 7])
    if final:
        report.close()
    snapshot = report.snapshot()
    assert len(snapshot.accounts) == sum(1 for e in stream if e.kind == "fault")
    for account in snapshot.accounts:
        assert account.sentence
        assert account.settled or not final
        assert account.outcome in (RECOVERED, ACCEPTED, NOT_RECOVERED, PENDING)


def test_read_journal_names_each_broken_line():
    lines = ['{"seq": 1, "time": 1, "kind": "run"}', "", "not json",
             '{"seq": null, "time": 2, "kind": "journal.dropped", "session": 0, "count": 5}']
    read = list(read_journal(lines))
    assert [n for n, _, _ in read] == [1, 3, 4]
    assert read[1][2].startswith("line 3: not an event")
    assert read[2][2] == "line 4: the journal dropped 5 events here"


def test_an_extra_reply_answers_no_command():
    """upload=426,extra=226: the stray 226 (its event marked unsolicited) pairs with no
    command. Read as the answer to the client's next STOR it would make a failed retry
    look like a recovery."""
    s = Stream()
    sid = s.connect()
    s.transfer(sid, "STOR", "/a.bin", 426, fault=fault("upload", 426))
    s.wait(1.0)
    s.emit("command", sid, command="STOR", arg="/a.bin")
    s.emit("reply", sid, code=226, message="Transfer complete.", unsolicited=True)
    s.emit("reply", sid, code=150, message="opening")
    s.emit("reply", sid, code=451, message="still failing")
    a = only(s.report())
    assert (a.reaction, a.outcome, a.attempts) == (RETRIED, NOT_RECOVERED, 1)


def test_a_client_refused_at_the_greeting_that_comes_back_and_logs_in():
    s = Stream()
    s.sessions += 1
    s.emit("session.open", 1, address="127.0.0.1:40001")
    s.emit("fault", 1, command="", **fault("connect", 421))
    s.emit("reply", 1, code=421, message="busy")
    s.emit("session.close", 1, address="")
    s.wait(1.5)
    s.connect()
    a = only(s.report(final=False))
    assert (a.point, a.reaction, a.outcome, a.attempts) == ("connect", RECONNECTED, RECOVERED, 1)
    assert a.first_attempt_after == 1.5
