"""The fault model, point by point, action by action, trigger by trigger.

Server-level tests drive a real FaultServer with Python's ftplib and with the raw-socket
client (which sees every byte on the control channel), and assert on four things: what the
client saw (reply codes, exceptions, exact bytes), what is on disk, what the server reported
(``fault`` and ``transfer`` events) and the board's counters. After every fault that keeps
the connection the next ``NOOP`` must get its own ``200``: exactly one final reply per command.

Timing behaviours (delay, rate, stall) are checked with generous lower bounds and by showing
that another session is answered while one is held up; nothing sleeps to synchronise.

The grammar and board tests at the top need no server.
"""

from __future__ import annotations

import ftplib
import io
import select
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import DEADLINE, PASSWORD, USER, Recorder, connect, file_sha256, payload, sha256
from rawftp import RawFTP, read_all

from tui.engine.ftp import data as data_channel
from tui.engine.board import FaultBoard
from tui.engine.points import STANDARD_MESSAGES
from tui.engine.rules import Rule, RuleError, parse_rule
from tui.engine.server import FaultServer
from tui.engine.settings import Settings

# ---------------------------------------------------------------------------------------------
# 1. the grammar: every option, its round trip through Rule.spec, and every error
# ---------------------------------------------------------------------------------------------

# (spec as written, the fields it sets, the canonical spec Rule.spec gives back)
OPTION_SPECS = [
    ("upload", dict(point="upload", code=426), "upload=426"),
    ("download", dict(point="download", code=426), "download=426"),
    ("list", dict(point="list", code=426), "list=426"),
    ("upload-start", dict(point="upload-start", code=425), "upload-start=425"),
    ("download-start=550", dict(point="download-start", code=550), "download-start=550"),
    ("list-start=450", dict(point="list-start", code=450), "list-start=450"),
    ("login", dict(point="login", code=530), "login=530"),
    ("login=421:Go away", dict(point="login", code=421, message="Go away"), "login=421:Go away"),
    # commas inside a message, before the options start
    ("upload=452:Disk full, sorry", dict(point="upload", code=452, message="Disk full, sorry"),
     "upload=452:Disk full, sorry"),
    ("upload=452:Full, try later,times=1",
     dict(point="upload", code=452, message="Full, try later", times=1),
     "upload=452:Full, try later,times=1"),
    ("upload=421:No, really,drop", dict(point="upload", code=421, message="No, really", drop=True),
     "upload=421:No, really,drop"),
    ("data", dict(point="data", code=425), "data=425"),
    ("cmd:cwd", dict(point="cmd:CWD", code=550), "cmd:CWD=550"),
    ("CMD:rnto=553", dict(point="cmd:RNTO", code=553), "cmd:RNTO=553"),
    ("download=426,after=100000", dict(point="download", code=426, after=100000),
     "download=426,after=100000"),
    ("download,after=0", dict(point="download", code=426, after=0), "download=426,after=0"),
    ("upload=451,after=10", dict(point="upload", code=451, after=10), "upload=451,after=10"),
    ("download,rate=5000", dict(point="download", rate=5000), "download,rate=5000"),
    ("list,rate=1", dict(point="list", rate=1), "list,rate=1"),
    ("cmd:NOOP,delay=2", dict(point="cmd:NOOP", delay=2.0), "cmd:NOOP,delay=2"),
    ("cmd:NOOP,delay=0.25", dict(point="cmd:NOOP", delay=0.25), "cmd:NOOP,delay=0.25"),
    ("upload=452,delay=1.5", dict(point="upload", code=452, delay=1.5), "upload=452,delay=1.5"),
    ("cmd:SIZE,stall", dict(point="cmd:SIZE", stall=True), "cmd:SIZE,stall"),
    ("upload,drop", dict(point="upload", drop=True), "upload,drop"),
    ("login=530,drop", dict(point="login", code=530, drop=True), "login=530,drop"),
    ("download,reset", dict(point="download", reset=True), "download,reset"),
    ("upload=451,keep=no", dict(point="upload", code=451, keep=False), "upload=451,keep=no"),
    ("upload=451,keep=yes", dict(point="upload", code=451), "upload=451"),
    ("upload,times=3", dict(point="upload", code=426, times=3), "upload=426,times=3"),
    ("upload=450,every=2", dict(point="upload", code=450, every=2), "upload=450,every=2"),
    ("upload=450,chance=0.3", dict(point="upload", code=450, chance=0.3),
     "upload=450,chance=0.3"),
    ("upload=450,chance=1", dict(point="upload", code=450, chance=1.0), "upload=450,chance=1"),
    ("download=550,path=*.iso", dict(point="download", code=550, path="*.iso"),
     "download=550,path=*.iso"),
    ("cmd:CWD,user=alice", dict(point="cmd:CWD", code=550, user="alice"),
     "cmd:CWD=550,user=alice"),
    # everything at once, written in a different order and case than Rule.spec writes it
    (" UPLOAD = 452 : Quota exceeded , USER=bob, path=*.bin ,chance=0.5,every=3,times=2,"
     "keep=no, DROP ,delay=0.5,rate=1000,after=10 ",
     dict(point="upload", code=452, message="Quota exceeded", after=10, rate=1000, delay=0.5,
          drop=True, keep=False, times=2, every=3, chance=0.5, path="*.bin", user="bob"),
     "upload=452:Quota exceeded,after=10,rate=1000,delay=0.5,drop,keep=no,times=2,every=3,"
     "chance=0.5,path=*.bin,user=bob"),
]


@pytest.mark.parametrize("spec, fields, canonical", OPTION_SPECS, ids=[s[2] for s in OPTION_SPECS])
def test_every_option_parses_and_round_trips_through_spec(spec, fields, canonical):
    rule = parse_rule(spec)
    assert rule == Rule(**fields)
    assert rule.spec == canonical
    again = parse_rule(rule.spec)
    assert again == rule
    assert again.spec == canonical


def test_a_bare_point_gets_its_default_code_and_an_action_alone_keeps_the_normal_reply():
    # bare points: the point's default code
    assert [parse_rule(p).reply_code for p in (
        "upload", "download", "list", "upload-start", "download-start", "list-start",
        "login", "data", "cmd:MKD")] == [426, 426, 426, 425, 425, 425, 530, 425, 550]
    # an action without CODE keeps the normal reply (no code of its own)...
    for spec in ("cmd:NOOP,delay=1", "download,rate=100", "cmd:NOOP,stall", "upload,reset"):
        rule = parse_rule(spec)
        assert rule.code is None and rule.reply is None, spec
    # ...except a drop, which hangs up with 421, and a cut, which needs a reply: 426
    assert parse_rule("cmd:CWD,drop").reply == f"421 {STANDARD_MESSAGES[421]}"
    assert parse_rule("download,after=5").reply == f"426 {STANDARD_MESSAGES[426]}"
    assert parse_rule("upload=452:Full, sorry now").reply == "452 Full, sorry now"


@pytest.mark.parametrize(
    "spec, complaint",
    [
        ("bogus", "'bogus'"),
        ("bogus=451", "'bogus'"),
        ("cmd:FROB=550", "'FROB'"),
        ("cmd:", "''"),
        ("upload=45", "'45'"),
        ("upload=226", "226"),
        ("upload=600", "600"),
        ("upload=4x1", "'4x1'"),
        ("upload=451:", "empty message"),
        ("upload=451:two\nlines", "single line"),
        ("upload,frob=1", "'frob'"),
        ("upload,times=1,times=2", "'times' given twice"),
        ("upload,after", "after needs a value"),
        ("download=426:Cut,after", "after needs a value"),  # an option, not message text
        ("upload=451:Oops,wat=1", "'wat'"),
        ("upload,after=ten", "after='ten'"),
        ("upload,after=-1", "after='-1'"),
        ("upload,rate=0", "rate=0"),
        ("upload,rate=fast", "rate='fast'"),
        ("upload,delay=soon", "delay='soon'"),
        ("upload,delay=0", "delay=0"),
        ("upload,delay=-1", "delay=-1"),
        ("upload,delay=3601", "delay=3601"),
        ("upload,delay=nan", "delay=nan"),
        ("upload,times=0", "times=0"),
        ("upload,times=1.5", "times='1.5'"),
        ("upload,every=0", "every=0"),
        ("upload,chance=0", "chance=0"),
        ("upload,chance=1.5", "chance=1.5"),
        ("upload,chance=half", "chance='half'"),
        ("upload,path=", "path="),
        ("upload,user=", "user="),
        ("upload,keep=maybe", "keep='maybe'"),
        ("upload,stall=1", "stall takes no value"),
        ("upload,drop=yes", "drop takes no value"),
        ("upload,stall,drop", "stall and drop"),
        ("upload,drop,reset", "drop and reset"),
        ("list,after=10", "after="),
        ("cmd:RETR,after=10", "after="),
        ("login,rate=10", "rate="),
        ("download-start,rate=10", "rate="),
        ("download,keep=no", "keep=no"),
        ("upload=451,stall", "stall sends no reply"),
        ("upload=451,reset", "reset sends no reply"),
        ("upload,stall,delay=1", "delay="),
        ("", "empty"),
    ],
)
def test_every_error_names_the_bad_part(spec, complaint):
    with pytest.raises(RuleError) as err:
        parse_rule(spec)
    assert complaint in str(err.value), str(err.value)


def test_a_rule_built_by_hand_is_checked_by_the_board():
    board = FaultBoard()
    with pytest.raises(RuleError, match="after="):
        board.add(Rule("list", after=3))
    with pytest.raises(RuleError, match="unknown fault point"):
        board.add(Rule("nowhere"))
    assert board.add(Rule("upload")).code == 426  # the default code is filled in
    assert board.rules()[0].spec == "upload=426"


# ---------------------------------------------------------------------------------------------
# 2. triggers on a bare board
# ---------------------------------------------------------------------------------------------


def fires(board: FaultBoard, rule: Rule, n: int) -> list[bool]:
    return [board.fire(rule) for _ in range(n)]


def test_times_fires_the_next_n_matches_then_disarms_itself():
    board = FaultBoard()
    rule = board.add("upload=451,times=2")
    assert board.stats(rule.id).remaining == 2
    assert [bool(board.match("upload")) for _ in range(4)] == [True, True, False, False]
    assert board.get(rule.id).enabled is False
    stats = board.stats(rule.id)
    assert (stats.fired, stats.matched, stats.remaining, stats.exhausted) == (2, 2, 0, True)
    assert board.armed_count() == 0
    # arming it again gives it its times again
    board.update(rule.id, enabled=True)
    assert board.stats(rule.id).remaining == 2
    assert bool(board.match("upload")) and board.stats(rule.id).remaining == 1
    # without times= a rule never runs out
    forever = board.add("download")
    assert all(fires(board, forever, 50))
    assert board.stats(forever.id).remaining is None and board.get(forever.id).enabled


def test_every_fires_on_each_nth_match_and_counts_every_match():
    board = FaultBoard()
    rule = board.add("upload=451,every=3")
    assert fires(board, rule, 9) == [False, False, True] * 3
    assert (board.stats(rule.id).matched, board.fired(rule.id)) == (9, 3)


def test_every_and_times_combine():
    board = FaultBoard()
    rule = board.add("upload=451,every=2,times=2")
    assert fires(board, rule, 8) == [False, True, False, True, False, False, False, False]
    assert board.get(rule.id).enabled is False
    assert board.stats(rule.id).fired == 2


def test_chance_is_reproducible_with_a_seed_one_stream_per_rule():
    n = 200

    def sequence(board: FaultBoard, rule: Rule) -> list[bool]:
        return fires(board, rule, n)

    a = FaultBoard(seed=7)
    rule_a = a.add("upload=451,chance=0.5")
    first = sequence(a, rule_a)
    assert 0.3 * n < sum(first) < 0.7 * n

    # another board with the same seed: the same sequence, even with another rule beside
    # it that is asked just as often (its own stream does not consume this one's)
    b = FaultBoard(seed=7)
    rule_b = b.add("upload=451,chance=0.5")
    other = b.add("download=425,chance=0.5")
    mixed = []
    for _ in range(n):
        mixed.append(b.fire(rule_b))
        b.fire(other)
    assert mixed == first

    # the other rule has its own sequence, not a copy of the first
    c = FaultBoard(seed=7)
    c.add("upload=451,chance=0.5")
    assert sequence(c, c.add("download=425,chance=0.5")) != first

    # another seed, another sequence; chance=1 always fires
    d = FaultBoard(seed=8)
    assert sequence(d, d.add("upload=451,chance=0.5")) != first
    e = FaultBoard(seed=7)
    assert all(sequence(e, e.add("upload=451,chance=1")))


def test_chance_with_every_is_only_asked_on_the_nth_match():
    board = FaultBoard(seed=3)
    rule = board.add("upload=451,chance=0.5,every=2")
    result = fires(board, rule, 80)
    assert not any(result[0::2])  # odd matches never fire, whatever the dice say
    assert 5 < sum(result[1::2]) < 35  # even ones fire about half the time
    again = FaultBoard(seed=3)
    assert fires(again, again.add("upload=451,chance=0.5,every=2"), 80) == result


def test_path_and_user_filters():
    board = FaultBoard()
    by_path = board.add("download=550,path=*.iso")
    by_user = board.add("upload=451,user=alice")
    both = board.add("cmd:DELE,path=keep*,user=bob")
    assert board.match("download", "/pub/disc.iso", "x").id == by_path.id
    assert board.match("download", "disc.iso", "x").id == by_path.id
    assert board.match("download", "/pub/disc.img", "x") is None
    assert board.match("download", "", "x") is None  # a path filter needs a path
    assert board.match("upload", "/a", "alice").id == by_user.id
    assert board.match("upload", "/a", "bob") is None
    assert board.match("upload", "", "alice").id == by_user.id
    assert board.match("cmd:DELE", "/d/keep.txt", "bob").id == both.id
    assert board.match("cmd:DELE", "/d/keep.txt", "alice") is None
    assert board.match("cmd:DELE", "/d/lose.txt", "bob") is None
    # a full-path glob works too
    full = board.add("list=450,path=/secret/*")
    assert board.match("list", "/secret/a", "x").id == full.id
    assert board.match("list", "/public/a", "x") is None
    # what did not pass the filters was not counted
    assert board.stats(by_path.id).matched == 2
    assert board.stats(by_user.id).matched == 2
    assert board.stats(both.id).matched == 1


def test_candidates_counts_nothing_and_match_honours_eligible():
    board = FaultBoard()
    cut = board.add("download,after=10")
    plain = board.add("download=451")
    assert [r.id for r in board.candidates("download")] == [cut.id, plain.id]
    assert board.stats(cut.id).matched == 0
    got = board.match("download", eligible=lambda r: r.after is None)
    assert got.id == plain.id
    assert board.stats(cut.id).matched == 0 and board.fired(plain.id) == 1


# ---------------------------------------------------------------------------------------------
# 3. helpers for the server tests
# ---------------------------------------------------------------------------------------------


def noop_ok(client: ftplib.FTP | RawFTP) -> None:
    """The sync guard: the next command gets its own 200."""
    if isinstance(client, RawFTP):
        reply = client.cmd("NOOP")
    else:
        reply = client.voidcmd("NOOP")
    assert reply.startswith("200"), reply


def only_fault(recorder: Recorder, **match):
    (fault,) = recorder.wait("fault", **match)
    assert len(recorder.of("fault")) == 1, recorder.of("fault")
    return fault


def raw_store(raw: RawFTP, name: str, data: bytes, verb: str = "STOR") -> tuple[str, str]:
    """Upload over a raw connection; the 1xx and the final reply."""
    data_sock = raw.pasv()
    raw.send(f"{verb} {name}".rstrip())
    first = raw.reply()
    if not first.startswith("1"):
        data_sock.close()
        return first, ""
    try:
        data_sock.sendall(data)
    except OSError:  # the server cut the connection before we were done
        pass
    data_sock.close()
    return first, raw.reply()


def unused_data_connection(data_sock: socket.socket) -> bytes:
    """What arrives on a data connection the server drops: nothing, then EOF, or a reset
    when it closed its listening socket before accepting the connection."""
    try:
        return read_all(data_sock)
    except ConnectionResetError:
        data_sock.close()
        return b""


def raw_retrieve(raw: RawFTP, command: str) -> tuple[str, bytes, str]:
    """Download over a raw connection: the 1xx, every byte, and the final reply."""
    data_sock = raw.pasv()
    raw.send(command)
    first = raw.reply()
    if not first.startswith("1"):
        return first, unused_data_connection(data_sock), ""
    return first, read_all(data_sock), raw.reply()


class Background(threading.Thread):
    """Runs ``fn`` on a thread; keeps its result or exception and when it ended."""

    def __init__(self, fn: Callable[[], object]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: object = None
        self.error: BaseException | None = None
        self.ended = 0.0
        self.start()

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:  # noqa: BLE001 - the test looks at it
            self.error = exc
        self.ended = time.monotonic()

    def outcome(self, timeout: float = DEADLINE):
        self.join(timeout)
        assert not self.is_alive(), "the client thread is still running"
        if self.error is not None:
            raise self.error
        return self.result


def answered_at_once(server: FaultServer, limit: float) -> float:
    """Another session logs in and gets its NOOP answered within ``limit`` seconds;
    returns when the answer came (monotonic)."""
    began = time.monotonic()
    other = connect(server)
    try:
        noop_ok(other)
        done = time.monotonic()
        other.quit()
    finally:
        other.close()
    assert done - began < limit, f"another session waited {done - began:.2f} s"
    return done


def lines(n: int, width: int = 40) -> bytes:
    """Text with LF line ends (the server sends CRLF in TYPE A)."""
    return b"".join(f"line {i:06d} ".ljust(width - 1, "x").encode() + b"\n" for i in range(n))


# ---------------------------------------------------------------------------------------------
# 4. completion points: the final 226 replaced, exactly one final reply
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["STOR", "APPE", "STOU"])
def test_upload_completion_fault_for_every_upload_verb(server, root, recorder, verb):
    rule = server.board.add("upload=451:Disk on fire")
    data = payload(200_000, seed=1)
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    first, final = raw_store(raw, "" if verb == "STOU" else "up.bin", data, verb)
    assert first[:3] in ("125", "150"), first
    assert final == "451 Disk on fire"
    noop_ok(raw)
    raw.close()
    (stored,) = list(root.iterdir())
    assert file_sha256(stored) == sha256(data)
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "upload", 451, verb, f"/{stored.name}")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes, transfer.direction) == (451, len(data), "upload")
    assert server.board.fired(rule.id) == 1


@pytest.mark.parametrize("type_", ["I", "A"], ids=["sendfile", "producer"])
def test_download_completion_fault_after_every_byte(server, root, recorder, type_):
    text = lines(20_000)
    (root / "d.txt").write_bytes(text)
    wire = text if type_ == "I" else text.replace(b"\n", b"\r\n")
    rule = server.board.add("download=450")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd(f"TYPE {type_}")
    first, body, final = raw_retrieve(raw, "RETR d.txt")
    assert first[:3] in ("125", "150")
    assert body == wire
    assert final == f"450 {STANDARD_MESSAGES[450]}"
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "download", 450, "RETR", "/d.txt")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (450, len(wire))


@pytest.mark.parametrize("verb", ["LIST", "NLST", "MLSD"])
def test_list_completion_fault_for_every_listing_verb(server, ftp, root, recorder, verb):
    for name in ("a.txt", "b.bin", "c.iso"):
        (root / name).write_bytes(b"x")
    rule = server.board.add("list=451")
    got: list[str] = []
    with pytest.raises(ftplib.error_temp, match=f"^451 {STANDARD_MESSAGES[451]}$"):
        if verb == "MLSD":
            got = [name for name, _facts in ftp.mlsd()]
        else:
            ftp.retrlines(verb, got.append)
    noop_ok(ftp)
    # the listing itself went through whole before the fault reply
    recorder.wait("transfer")
    if verb == "NLST":
        assert sorted(got) == ["a.txt", "b.bin", "c.iso"]
    elif verb == "LIST":
        assert sorted(line.split()[-1] for line in got) == ["a.txt", "b.bin", "c.iso"]
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "list", 451, verb, "/")
    # the listing is untouched by the fault, and a raw client sees one final reply
    server.board.update(rule.id, code=450)
    raw = RawFTP(server.port)
    raw.login()
    first, body, final = raw_retrieve(raw, verb)
    assert first[:3] in ("125", "150") and body.count(b"\r\n") == 3
    assert final.startswith("450 ")
    noop_ok(raw)
    raw.close()


@pytest.mark.parametrize("spec", ["upload=451", "upload=451,delay=0.3", "upload=451,after=500"])
def test_a_quit_during_the_transfer_still_gets_the_fault_reply(server, root, recorder, spec):
    """RFC 959: after QUIT during a transfer the server sends the transfer's reply, then
    closes. The fault's reply replaces the 226 there too: exactly one, then the hang-up."""
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    data_sock = raw.transfer("STOR q.bin")
    assert raw.cmd("QUIT").startswith("221 ")  # the transfer has not ended (nor been cut)
    data_sock.sendall(payload(1000))
    data_sock.close()
    assert raw.reply().startswith("451 ")
    assert raw.file.readline() == b""
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert transfer.code == 451
    recorder.wait("session.close")


def test_completion_faults_stay_at_their_own_point(server, ftp, root):
    server.board.add("list=451")
    server.board.add("upload-start=452")
    (root / "f.bin").write_bytes(b"abc")
    got = bytearray()
    assert ftp.retrbinary("RETR f.bin", got.extend).startswith("226") and got == b"abc"
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.nlst()
    noop_ok(ftp)


# ---------------------------------------------------------------------------------------------
# 5. start points: a reply instead of 150/125, nothing moves
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["STOR", "APPE", "STOU"])
@pytest.mark.parametrize("code", [425, 450, 452, 550])
def test_upload_start_fault_creates_nothing(server, root, recorder, verb, code):
    (root / "old.txt").write_bytes(b"before")
    rule = server.board.add(f"upload-start={code}")
    raw = RawFTP(server.port)
    raw.login()
    data_sock = raw.pasv()
    raw.send(f"{verb} {'new.bin' if verb == 'STOR' else 'old.txt' if verb == 'APPE' else ''}"
             .rstrip())
    reply = raw.reply()
    assert reply == f"{code} {STANDARD_MESSAGES[code]}"
    # the data connection was dropped unused: EOF, and no reply of its own
    assert unused_data_connection(data_sock) == b""
    noop_ok(raw)
    raw.close()
    assert sorted(p.name for p in root.iterdir()) == ["old.txt"]
    assert (root / "old.txt").read_bytes() == b"before"
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (
        rule.id, "upload-start", code, verb)
    if verb == "STOR":
        assert fault.path == "/new.bin"
    recorder.wait("session.close")
    assert recorder.of("transfer") == []


def test_upload_start_fault_with_ftplib_and_active_mode(server, ftp, root):
    server.board.add("upload-start=452")
    with pytest.raises(ftplib.error_temp, match=f"^452 {STANDARD_MESSAGES[452]}$"):
        ftp.storbinary("STOR p.bin", io.BytesIO(b"abc"))
    noop_ok(ftp)
    ftp.set_pasv(False)
    server.board.replace(server.board.first("upload-start").id, "upload-start=550:No room")
    with pytest.raises(ftplib.error_perm, match="^550 No room$"):
        ftp.storbinary("STOR a.bin", io.BytesIO(b"abc"))
    noop_ok(ftp)
    assert list(root.iterdir()) == []


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_download_start_fault_sends_no_data(server, ftp, root, recorder, passive):
    (root / "f.bin").write_bytes(payload(100_000))
    rule = server.board.add("download-start=550:Gone fishing")
    ftp.set_pasv(passive)
    got = bytearray()
    with pytest.raises(ftplib.error_perm, match="^550 Gone fishing$"):
        ftp.retrbinary("RETR f.bin", got.extend)
    assert got == b""
    noop_ok(ftp)
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command, fault.path) == (
        rule.id, "download-start", 550, "RETR", "/f.bin")
    # the raw client: no byte on the data connection, no 226 after the fault reply
    raw = RawFTP(server.port)
    raw.login()
    first, body, final = raw_retrieve(raw, "RETR f.bin")
    assert (first, body, final) == ("550 Gone fishing", b"", "")
    noop_ok(raw)
    raw.close()
    assert recorder.of("transfer") == []


@pytest.mark.parametrize("verb", ["LIST", "NLST", "MLSD"])
def test_list_start_fault_sends_no_listing(server, ftp, root, recorder, verb):
    (root / "a.txt").write_bytes(b"x")
    server.board.add("list-start")  # bare: the default 425
    with pytest.raises(ftplib.error_temp, match=f"^425 {STANDARD_MESSAGES[425]}$"):
        if verb == "MLSD":
            list(ftp.mlsd())
        else:
            ftp.retrlines(verb, lambda line: pytest.fail(f"listing line {line!r}"))
    noop_ok(ftp)
    raw = RawFTP(server.port)
    raw.login()
    first, body, final = raw_retrieve(raw, verb)
    assert (first[:4], body, final) == ("425 ", b"", "")
    noop_ok(raw)
    raw.close()
    faults = recorder.wait("fault", count=2)
    assert {(f.point, f.code, f.command) for f in faults} == {("list-start", 425, verb)}
    assert recorder.of("transfer") == []


# ---------------------------------------------------------------------------------------------
# 6. session and command points
# ---------------------------------------------------------------------------------------------


def test_login_fault_replies_to_pass_and_the_session_goes_on(server, root, recorder):
    rule = server.board.add("login=530:Try again later,times=1")
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^530 Try again later$"):
        ftp.login(USER, PASSWORD)
    noop_ok(ftp)
    with pytest.raises(ftplib.error_perm, match="^530 "):  # not logged in
        ftp.voidcmd("PWD")
    assert ftp.login(USER, PASSWORD).startswith("230")  # times=1: the next login works
    assert ftp.pwd() == "/"
    ftp.quit()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (rule.id, "login", 530, "PASS")
    logins = recorder.wait("login")
    assert [e.ok for e in logins] == [True]  # the faulted PASS never reached the authorizer
    assert server.board.get(rule.id).enabled is False


def test_login_fault_421_with_drop_hangs_up(server, recorder):
    server.board.add("login=421,drop")
    raw = RawFTP(server.port)
    assert raw.cmd(f"USER {USER}").startswith("331")
    assert raw.cmd(f"PASS {PASSWORD}") == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.file.readline() == b""  # and nothing more: the server closed
    raw.close()
    recorder.wait("session.close")
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code) == ("login", 421)


@pytest.mark.parametrize("verb", ["PASV", "EPSV", "PORT", "EPRT"])
def test_data_fault_replies_to_every_data_command(server, root, recorder, verb):
    rule = server.board.add("data")  # the default 425
    raw = RawFTP(server.port)
    raw.login()
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    arg = {
        "PASV": "", "EPSV": "",
        "PORT": f"127,0,0,1,{port >> 8},{port & 255}",
        "EPRT": f"|1|127.0.0.1|{port}|",
    }[verb]
    assert raw.cmd(f"{verb} {arg}".rstrip()) == f"425 {STANDARD_MESSAGES[425]}"
    noop_ok(raw)
    # no data connection was set up: a transfer command has nothing to use
    listener.settimeout(0.2)
    with pytest.raises(TimeoutError):
        listener.accept()  # the server never connected (active) ...
    listener.close()
    server.board.update(rule.id, enabled=False)
    assert raw.cmd("PASV").startswith("227")  # ...and disarmed, all is normal again
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (rule.id, "data", 425, verb)


@pytest.mark.parametrize("passive", [True, False], ids=["passive", "active"])
def test_data_fault_seen_by_ftplib(server, ftp, root, passive):
    (root / "f.bin").write_bytes(b"abc")
    server.board.add("data=425:No data for you")
    ftp.set_pasv(passive)
    with pytest.raises(ftplib.error_temp, match="^425 No data for you$"):
        ftp.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(ftp)


def _setup_cmd_tree(root: Path) -> None:
    (root / "sub").mkdir()
    (root / "emptydir").mkdir()
    (root / "f.bin").write_bytes(b"12345")


# (verb, command line, normal reply prefix, check that the command did not run)
CMD_CASES = [
    ("CWD", "CWD sub", "250", lambda r, raw: raw.cmd("PWD").startswith('257 "/"')),
    ("XCWD", "XCWD sub", "250", lambda r, raw: raw.cmd("PWD").startswith('257 "/"')),
    ("CDUP", "CDUP", "250", lambda r, raw: True),
    ("SIZE", "SIZE f.bin", "213", lambda r, raw: True),
    ("MDTM", "MDTM f.bin", "213", lambda r, raw: True),
    ("MKD", "MKD newdir", "257", lambda r, raw: not (r / "newdir").exists()),
    ("RMD", "RMD emptydir", "250", lambda r, raw: (r / "emptydir").is_dir()),
    ("DELE", "DELE f.bin", "250", lambda r, raw: (r / "f.bin").exists()),
    ("RNFR", "RNFR f.bin", "350", lambda r, raw: raw.cmd("RNTO g.bin").startswith("503")),
    ("PWD", "PWD", "257", lambda r, raw: True),
    ("SYST", "SYST", "215", lambda r, raw: True),
    ("FEAT", "FEAT", "211", lambda r, raw: True),
    ("TYPE", "TYPE I", "200", lambda r, raw: True),
    ("MLST", "MLST f.bin", "250", lambda r, raw: True),
    ("STAT", "STAT", "211", lambda r, raw: True),
    ("STAT", "STAT f.bin", "213", lambda r, raw: True),
    ("HELP", "HELP", "214", lambda r, raw: True),
    ("SITE", "SITE HELP", "214", lambda r, raw: True),
    ("NOOP", "NOOP", "200", lambda r, raw: True),
    ("REST", "REST 10", "350", lambda r, raw: True),
    ("ALLO", "ALLO 100", "202", lambda r, raw: True),
]


@pytest.mark.parametrize(
    "verb, line, normal, not_run", CMD_CASES, ids=[c[1] for c in CMD_CASES])
def test_cmd_fault_for_any_verb(server, root, recorder, verb, line, normal, not_run):
    _setup_cmd_tree(root)
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")  # SIZE and REST want binary
    if verb == "CDUP":
        assert raw.cmd("CWD sub").startswith("250")
    rule = server.board.add(f"cmd:{verb}=553:Not today,times=1")
    assert raw.cmd(line) == "553 Not today"
    if verb != "NOOP":
        noop_ok(raw)
    assert not_run(root, raw)
    if verb == "CDUP":
        assert raw.cmd("PWD").startswith('257 "/sub"')
    # times=1: the same command now runs normally
    assert raw.cmd(line).startswith(normal)
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.command) == (
        rule.id, f"cmd:{verb}", 553, line.split()[0] if verb != "SITE" else "SITE HELP")
    assert server.board.stats(rule.id).remaining == 0


def test_cmd_faults_on_rename_and_size_with_ftplib(server, ftp, root, recorder):
    _setup_cmd_tree(root)
    server.board.add("cmd:RNTO=553")
    server.board.add("cmd:SIZE")  # bare: 550
    server.board.add("cmd:MKD=550:No directories here")
    server.board.add("cmd:CWD=550,path=sub")
    with pytest.raises(ftplib.error_perm, match=f"^553 {STANDARD_MESSAGES[553]}$"):
        ftp.rename("f.bin", "g.bin")
    assert (root / "f.bin").exists() and not (root / "g.bin").exists()
    with pytest.raises(ftplib.error_perm, match="^550 "):
        ftp.size("f.bin")
    with pytest.raises(ftplib.error_perm, match="^550 No directories here$"):
        ftp.mkd("made")
    assert not (root / "made").exists()
    with pytest.raises(ftplib.error_perm, match="^550 "):
        ftp.cwd("sub")
    assert ftp.cwd("emptydir").startswith("250")  # the path filter spares it
    noop_ok(ftp)
    faults = recorder.wait("fault", count=4)
    assert [(f.point, f.command, f.path) for f in faults] == [
        ("cmd:RNTO", "RNTO", "/g.bin"), ("cmd:SIZE", "SIZE", "/f.bin"),
        ("cmd:MKD", "MKD", "/made"), ("cmd:CWD", "CWD", "/sub")]


def test_cmd_fault_before_login(server, recorder):
    server.board.add("cmd:USER=421,drop")
    raw = RawFTP(server.port)
    assert raw.cmd("USER someone").startswith("421 ")
    assert raw.file.readline() == b""
    raw.close()
    assert recorder.wait("fault")[0].point == "cmd:USER"


# ---------------------------------------------------------------------------------------------
# 7. after=BYTES: cut the data connection after exactly BYTES bytes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("after", [0, 1000, 100_000, 300_000])
@pytest.mark.parametrize("type_", ["I", "A"], ids=["sendfile", "producer"])
def test_download_cut_after_exactly_n_bytes(server, root, recorder, type_, after):
    text = lines(25_000)  # 1 MB
    (root / "big.txt").write_bytes(text)
    wire = text if type_ == "I" else text.replace(b"\n", b"\r\n")
    rule = server.board.add(f"download,after={after}")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd(f"TYPE {type_}")
    data_sock = raw.transfer("RETR big.txt")
    body = bytearray()
    while chunk := data_sock.recv(65536):  # EOF: the server half-closed after N bytes
        body += chunk
    assert bytes(body) == wire[:after]
    # graceful: the reply waits until the client closed its side
    readable, _, _ = select.select([raw.sock], [], [], 0.2)
    assert readable == [], "the reply came before the client closed the data connection"
    data_sock.close()
    assert raw.reply() == f"426 {STANDARD_MESSAGES[426]}"
    noop_ok(raw)
    raw.close()
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.path, fault.action) == (
        rule.id, "download", 426, "/big.txt", f"cut after {after} B")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (426, after)
    assert server.board.fired(rule.id) == 1


@pytest.mark.parametrize("binary", [True, False], ids=["sendfile", "producer"])
def test_download_cut_with_ftplib(server, ftp, root, binary):
    data = payload(500_000, seed=5)
    (root / "d.bin").write_bytes(data)
    server.board.add("download=451:Cable cut,after=123457")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^451 Cable cut$"):
        if binary:
            ftp.retrbinary("RETR d.bin", got.extend)
        else:
            ftp.voidcmd("TYPE A")
            with ftp.transfercmd("RETR d.bin") as conn:
                while chunk := conn.recv(8192):
                    got += chunk
            ftp.voidresp()
    if binary:
        assert bytes(got) == data[:123457]
    else:
        assert bytes(got) == data.replace(b"\n", b"\r\n")[:123457]
    noop_ok(ftp)


def test_download_cut_replies_after_the_grace_time_if_the_client_keeps_the_socket(
        server, root, recorder, monkeypatch):
    monkeypatch.setattr(data_channel, "CUT_GRACE", 0.4)
    (root / "d.bin").write_bytes(payload(200_000))
    server.board.add("download,after=5000")
    raw = RawFTP(server.port)
    raw.login()
    data_sock = raw.transfer("RETR d.bin")
    body = b""
    while chunk := data_sock.recv(65536):
        body += chunk
    eof = time.monotonic()
    assert body == payload(200_000)[:5000]
    assert raw.reply().startswith("426 ")  # the data socket is still open on our side
    assert time.monotonic() - eof >= 0.3
    noop_ok(raw)
    data_sock.close()
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (426, 5000)


@pytest.mark.parametrize("after", [0, 1000, 100_000])
def test_upload_cut_after_exactly_n_bytes(server, root, recorder, after):
    data = payload(400_000, seed=after)
    rule = server.board.add(f"upload=452,after={after}")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    first, final = raw_store(raw, "up.bin", data)
    assert first[:3] in ("125", "150")
    assert final == f"452 {STANDARD_MESSAGES[452]}"
    noop_ok(raw)
    raw.close()
    assert (root / "up.bin").read_bytes() == data[:after]
    fault = only_fault(recorder)
    assert (fault.rule, fault.point, fault.code, fault.path, fault.action) == (
        rule.id, "upload", 452, "/up.bin", f"cut after {after} B")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (452, after)


def test_upload_cut_with_ftplib(server, ftp, root):
    data = payload(300_000, seed=2)
    server.board.add("upload,after=70000")
    try:
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
    except ftplib.error_temp as err:
        assert str(err).startswith("426 ")
    except OSError:  # the cut reached us while we were still sending: the reply waits
        with pytest.raises(ftplib.error_temp, match="^426 "):
            ftp.getresp()
    else:
        pytest.fail("the upload was not cut")
    noop_ok(ftp)
    assert (root / "up.bin").read_bytes() == data[:70000]


@pytest.mark.parametrize("size_vs_after", [-1, 0, "empty"], ids=["fewer", "exactly", "empty"])
@pytest.mark.parametrize("type_", ["I", "A"], ids=["sendfile", "producer"])
def test_a_download_of_n_bytes_or_fewer_is_not_cut(server, root, recorder, type_, size_vs_after):
    text = b"" if size_vs_after == "empty" else lines(2000)
    size_vs_after = 0 if size_vs_after == "empty" else size_vs_after
    wire = text if type_ == "I" else text.replace(b"\n", b"\r\n")
    (root / "d.txt").write_bytes(text)
    rule = server.board.add(f"download=451,after={len(wire) - size_vs_after}")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd(f"TYPE {type_}")
    first, body, final = raw_retrieve(raw, "RETR d.txt")
    assert body == wire
    assert final.startswith("226 ")
    noop_ok(raw)
    raw.close()
    stats = server.board.stats(rule.id)
    assert (stats.fired, stats.matched) == (0, 0)
    assert server.board.get(rule.id).enabled
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (226, len(wire))
    assert recorder.of("fault") == []


@pytest.mark.parametrize("size_vs_after", [-1, 0], ids=["fewer", "exactly"])
def test_an_upload_of_n_bytes_or_fewer_is_not_cut(server, ftp, root, recorder, size_vs_after):
    data = payload(150_000, seed=4)
    rule = server.board.add(f"upload=451,after={len(data) - size_vs_after},times=1")
    assert ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
    noop_ok(ftp)
    assert file_sha256(root / "up.bin") == sha256(data)
    stats = server.board.stats(rule.id)
    assert (stats.fired, stats.matched, stats.remaining) == (0, 0, 1)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (226, len(data))
    assert recorder.of("fault") == []


def test_cut_with_every_spares_the_transfers_in_between(server, ftp, root):
    data = payload(200_000, seed=6)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download,after=1000,every=2")
    outcomes = []
    for _ in range(4):
        got = bytearray()
        try:
            ftp.retrbinary("RETR d.bin", got.extend)
            outcomes.append(len(got))
        except ftplib.error_temp as err:
            assert str(err).startswith("426 ")
            outcomes.append(-len(got))
        noop_ok(ftp)
    assert outcomes == [len(data), -1000, len(data), -1000]
    assert (server.board.stats(rule.id).matched, server.board.fired(rule.id)) == (4, 2)


@pytest.mark.parametrize("binary", [True, False], ids=["sendfile", "producer"])
def test_a_cut_rule_that_does_not_fire_leaves_the_next_one_its_turn(server, ftp, root, binary):
    data = payload(200_000, seed=13)
    (root / "d.bin").write_bytes(data)
    early = server.board.add("download,after=1000,every=2")
    late = server.board.add("download=451,after=5000")
    if not binary:
        ftp.voidcmd("TYPE A")
    outcomes = []
    for _ in range(2):
        got = bytearray()
        with ftp.transfercmd("RETR d.bin") as conn:
            while chunk := conn.recv(65536):
                got += chunk
        try:
            ftp.voidresp()
        except ftplib.error_temp as err:
            outcomes.append((len(got), str(err)[:3]))
        noop_ok(ftp)
    # the first time the early rule is only counted (every=2) and the late one cuts
    assert outcomes == [(5000, "451"), (1000, "426")]
    assert (server.board.stats(early.id).matched, server.board.fired(early.id)) == (2, 1)
    assert server.board.fired(late.id) == 1


def test_an_upload_cut_rule_that_does_not_fire_leaves_the_next_one_its_turn(server, root):
    data = payload(200_000, seed=14)
    server.board.add("upload,after=1000,chance=0.5,path=*.none")  # never a candidate here
    first = server.board.add("upload=451,after=2000,every=2")
    second = server.board.add("upload=452,after=3000")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    assert raw_store(raw, "u.bin", data)[1].startswith("452 ")
    assert (root / "u.bin").read_bytes() == data[:3000]
    noop_ok(raw)
    assert raw_store(raw, "u.bin", data)[1].startswith("451 ")
    assert (root / "u.bin").read_bytes() == data[:2000]
    noop_ok(raw)
    raw.close()
    assert (server.board.fired(first.id), server.board.fired(second.id)) == (1, 1)


def test_abor_during_a_cut_gets_one_reply_per_command(server, root, recorder):
    (root / "d.bin").write_bytes(payload(100_000))
    server.board.add("download=451,after=1000")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    data_sock = raw.transfer("RETR d.bin")
    body = b""
    while chunk := data_sock.recv(65536):
        body += chunk
    assert len(body) == 1000
    raw.send("ABOR")  # before closing our side: the cut's reply is not sent yet
    # pyftpdlib answers for the aborted RETR (426) and for ABOR (226), nothing more
    assert raw.reply().startswith("426 ")
    assert raw.reply().startswith("226 ")
    noop_ok(raw)
    data_sock.close()
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert transfer.bytes == 1000


# ---------------------------------------------------------------------------------------------
# 8. delay=SECONDS: the reply (the fault's or the normal one) that much later
# ---------------------------------------------------------------------------------------------


def test_delayed_command_reply_while_other_sessions_are_served(server, recorder):
    rule = server.board.add("cmd:NOOP,delay=1")
    client = connect(server)
    try:
        began = time.monotonic()
        delayed = Background(lambda: client.voidcmd("NOOP"))
        recorder.wait("fault")  # the server has the NOOP and holds it
        server.board.update(rule.id, enabled=False)  # the other session's NOOP is normal
        other_done = answered_at_once(server, limit=0.5)
        assert delayed.outcome().startswith("200")
        assert delayed.ended - began >= 0.9
        assert other_done < delayed.ended
        noop_ok(client)
    finally:
        client.close()
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code, fault.action) == ("cmd:NOOP", 0, "1 s late, normal reply")


def test_delayed_fault_reply_and_the_command_not_run(server, ftp, root, recorder):
    (root / "sub").mkdir()
    server.board.add("cmd:CWD=550:Later,delay=0.5")
    began = time.monotonic()
    with pytest.raises(ftplib.error_perm, match="^550 Later$"):
        ftp.cwd("sub")
    assert time.monotonic() - began >= 0.45
    assert ftp.pwd() == "/"
    noop_ok(ftp)


@pytest.mark.parametrize("spec", ["cmd:CWD=550,delay=0.5", "cmd:CWD,delay=0.5"])
def test_pipelined_commands_wait_for_a_delayed_reply(server, root, recorder, spec):
    """Commands sent right behind a delayed one are answered after it, in order."""
    (root / "sub").mkdir()
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    began = time.monotonic()
    raw.sock.sendall(b"CWD sub\r\nPWD\r\n" + b"A" * 3000 + b"\r\nNOOP\r\n")
    first = raw.reply()
    assert time.monotonic() - began >= 0.45
    if "550" in spec:
        assert first.startswith("550 ")
        assert raw.reply().startswith('257 "/" ')
    else:
        assert first.startswith("250 ")
        assert raw.reply().startswith('257 "/sub" ')
    assert raw.reply() == "500 Command too long."
    assert raw.reply().startswith("200 ")
    noop_ok(raw)
    raw.close()


@pytest.mark.parametrize("code", [None, 451], ids=["normal-reply", "fault-reply"])
def test_delayed_upload_completion(server, ftp, root, recorder, code):
    spec = "upload,delay=0.5" if code is None else f"upload={code},delay=0.5"
    server.board.add(spec)
    data = payload(100_000)
    began = time.monotonic()
    if code is None:
        assert ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
    else:
        with pytest.raises(ftplib.error_temp, match=f"^{code} "):
            ftp.storbinary("STOR up.bin", io.BytesIO(data))
    assert time.monotonic() - began >= 0.45
    noop_ok(ftp)
    assert file_sha256(root / "up.bin") == sha256(data)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (code or 226, len(data))


def test_delayed_download_completion_and_start(server, ftp, root):
    data = payload(80_000)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download,delay=0.5")
    got = bytearray()
    began = time.monotonic()
    assert ftp.retrbinary("RETR d.bin", got.extend).startswith("226")
    assert time.monotonic() - began >= 0.45 and got == data
    noop_ok(ftp)
    # a start fault can be late too: no data, the reply after the delay
    server.board.replace(rule.id, "download-start=450,delay=0.5")
    began = time.monotonic()
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.retrbinary("RETR d.bin", got.extend)
    assert time.monotonic() - began >= 0.45
    noop_ok(ftp)
    # and without a code the command itself runs late
    server.board.replace(rule.id, "download-start,delay=0.5")
    got.clear()
    began = time.monotonic()
    assert ftp.retrbinary("RETR d.bin", got.extend).startswith("226")
    assert time.monotonic() - began >= 0.45 and got == data
    noop_ok(ftp)


def test_delayed_login(server, recorder):
    server.board.add("login,delay=0.5")
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    began = time.monotonic()
    assert ftp.login(USER, PASSWORD).startswith("230")
    assert time.monotonic() - began >= 0.45
    noop_ok(ftp)
    ftp.quit()


# ---------------------------------------------------------------------------------------------
# 9. rate=BYTES_PER_SECOND: the transfer throttled, the normal reply at the end
# ---------------------------------------------------------------------------------------------


def test_throttled_download_while_other_sessions_are_served(server, ftp, root, recorder):
    data = payload(200_000, seed=8)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download,rate=200000")  # one second for the whole file
    got = bytearray()
    began = time.monotonic()
    transfer = Background(lambda: ftp.retrbinary("RETR d.bin", got.extend))
    recorder.wait("fault")
    other_done = answered_at_once(server, limit=0.5)
    assert transfer.outcome().startswith("226")
    assert transfer.ended - began >= 0.75
    assert other_done < transfer.ended
    assert bytes(got) == data
    noop_ok(ftp)
    (fault,) = recorder.of("fault")
    assert (fault.rule, fault.point, fault.code, fault.path) == (rule.id, "download", 0, "/d.bin")
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (226, len(data))


def test_throttled_upload(server, ftp, root, recorder):
    data = payload(150_000, seed=9)
    server.board.add("upload,rate=300000")  # half a second
    began = time.monotonic()
    assert ftp.storbinary("STOR up.bin", io.BytesIO(data)).startswith("226")
    assert time.monotonic() - began >= 0.35
    noop_ok(ftp)
    assert file_sha256(root / "up.bin") == sha256(data)
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (226, len(data))


def test_throttled_listing(server, ftp, root):
    for i in range(60):
        (root / f"file_{i:04d}.txt").write_bytes(b"")
    size = 60 * len(b"file_0000.txt\r\n")  # 900 bytes of NLST
    server.board.add(f"list,rate={size * 2}")  # half a second
    began = time.monotonic()
    names = ftp.nlst()
    assert time.monotonic() - began >= 0.35
    assert names == [f"file_{i:04d}.txt" for i in range(60)]
    noop_ok(ftp)


def test_rate_with_a_code_and_a_cut(server, ftp, root, recorder):
    data = payload(100_000, seed=10)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download=451,rate=400000,after=50000")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.retrbinary("RETR d.bin", got.extend)
    assert bytes(got) == data[:50000]
    noop_ok(ftp)
    assert server.board.fired(rule.id) == 1  # fired once, at the start, not again at the cut
    (fault,) = recorder.of("fault")
    assert fault.point == "download"
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (451, 50000)


def test_rate_with_a_completion_code(server, ftp, root):
    data = payload(50_000, seed=11)
    (root / "d.bin").write_bytes(data)
    rule = server.board.add("download=450,rate=1000000")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.retrbinary("RETR d.bin", got.extend)
    assert bytes(got) == data
    noop_ok(ftp)
    assert server.board.fired(rule.id) == 1


# ---------------------------------------------------------------------------------------------
# 10. stall, drop, reset
# ---------------------------------------------------------------------------------------------


def test_stalled_command_is_never_answered_and_others_are_served(server, recorder):
    rule = server.board.add("cmd:NOOP,stall")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("PWD").startswith("257")
    raw.sock.settimeout(0.5)
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        raw.cmd("NOOP")
    assert time.monotonic() - began >= 0.45
    recorder.wait("fault")
    server.board.update(rule.id, enabled=False)
    answered_at_once(server, limit=0.5)
    raw.close()
    recorder.wait("session.close", count=2)
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code, fault.action) == ("cmd:NOOP", 0, "never answer")
    assert server.board.fired(rule.id) == 1


def test_stalled_session_answers_nothing_more(server, recorder):
    server.board.add("cmd:SIZE,stall,times=1")
    raw = RawFTP(server.port)
    raw.login()
    raw.send("SIZE nothing")
    raw.send("NOOP")  # read but never answered either
    raw.sock.settimeout(0.3)
    with pytest.raises(TimeoutError):
        raw.reply()
    raw.close()
    recorder.wait("session.close")
    # other sessions, and the rule's disarming, are unaffected
    client = connect(server)
    with pytest.raises(ftplib.error_perm, match="^550 "):
        client.size("nothing")
    noop_ok(client)
    client.quit()


def test_stalled_upload_completion(server, root, recorder):
    server.board.add("upload,stall")
    data = payload(100_000)
    ftp = connect(server, timeout=0.5)
    try:
        with pytest.raises(TimeoutError):
            ftp.storbinary("STOR up.bin", io.BytesIO(data))
    finally:
        ftp.close()
    assert file_sha256(root / "up.bin") == sha256(data)
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (0, len(data))
    assert recorder.wait("fault")[0].action == "never answer"
    answered_at_once(server, limit=0.5)


@pytest.mark.parametrize("spec, code", [("cmd:CWD,drop", 421), ("cmd:CWD=450,drop", 450)])
def test_drop_replies_then_hangs_up(server, root, recorder, spec, code):
    (root / "sub").mkdir()
    server.board.add(spec)
    ftp = connect(server)
    with pytest.raises(ftplib.error_temp, match=f"^{code} "):
        ftp.cwd("sub")
    with pytest.raises(EOFError):  # the server hung up (a NOOP sent now could meet a RST)
        ftp.getline()
    ftp.close()
    recorder.wait("session.close")
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code) == ("cmd:CWD", code)
    assert fault.action.endswith("hang up")


@pytest.mark.parametrize("direction", ["upload", "download"])
def test_drop_on_completion(server, root, recorder, direction):
    data = payload(300_000, seed=12)
    (root / "d.bin").write_bytes(data)
    server.board.add(f"{direction},drop")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    if direction == "upload":
        _first, final = raw_store(raw, "u.bin", data)
        assert file_sha256(root / "u.bin") == sha256(data)
    else:
        _first, body, final = raw_retrieve(raw, "RETR d.bin")
        assert body == data
    assert final == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.file.readline() == b""
    raw.close()
    recorder.wait("session.close")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (421, len(data))


@pytest.mark.parametrize("spec, line", [
    ("cmd:NOOP,reset,times=1", "NOOP"), ("download-start,reset", "RETR d.bin"),
    ("data,reset", "PASV")])
def test_reset_closes_with_a_tcp_reset(server, root, recorder, spec, line):
    (root / "d.bin").write_bytes(b"abc")
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    raw.send(line)
    with pytest.raises(ConnectionResetError):
        raw.reply()
    raw.close()
    recorder.wait("session.close")
    (fault,) = recorder.of("fault")
    assert (fault.code, fault.action) == (0, "TCP reset")
    answered_at_once(server, limit=2.0)


def test_reset_on_upload_completion(server, ftp, root, recorder):
    data = payload(100_000)
    server.board.add("upload,reset")
    with pytest.raises(ConnectionResetError):
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
    ftp.close()
    assert file_sha256(root / "up.bin") == sha256(data)
    (transfer,) = recorder.wait("transfer")
    assert transfer.code == 0
    recorder.wait("session.close")


# ---------------------------------------------------------------------------------------------
# 11. keep=no: the upload is removed before the reply goes out
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec, code", [("upload=451,keep=no", 451), ("upload,keep=no", 426)])
def test_keep_no_removes_the_upload_before_the_reply(server, root, recorder, spec, code):
    data = payload(200_000)
    server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    _first, final = raw_store(raw, "gone.bin", data)
    # the reply is in: the file is already gone
    assert not (root / "gone.bin").exists()
    assert final == f"{code} {STANDARD_MESSAGES[code]}"
    noop_ok(raw)
    raw.close()
    (fault,) = recorder.wait("fault")
    assert fault.action.endswith("remove file")
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (code, len(data))
    assert list(root.iterdir()) == []


def test_keep_no_with_a_cut_and_with_stou(server, ftp, root, recorder):
    server.board.add("upload=452,keep=no,after=1000")
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("TYPE I")
    _first, final = raw_store(raw, "cut.bin", payload(100_000))
    assert final.startswith("452 ")
    assert not (root / "cut.bin").exists()
    noop_ok(raw)
    raw.close()
    (transfer,) = recorder.wait("transfer")
    assert (transfer.code, transfer.bytes) == (452, 1000)
    server.board.clear()
    server.board.add("upload=451,keep=no")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOU", io.BytesIO(b"unique"))
    noop_ok(ftp)
    assert list(root.iterdir()) == []


def test_keep_no_on_append_removes_only_what_was_received(server, ftp, root):
    (root / "log.txt").write_bytes(b"old lines\n")
    server.board.add("upload=451,keep=no")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("APPE log.txt", io.BytesIO(b"new line\n"))
    noop_ok(ftp)
    assert (root / "log.txt").read_bytes() == b"old lines\n"


def test_keep_no_on_a_resumed_upload_removes_only_what_was_received(server, ftp, root):
    (root / "part.bin").write_bytes(b"A" * 1000)
    server.board.add("upload=451,keep=no")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR part.bin", io.BytesIO(b"B" * 500), rest=600)
    noop_ok(ftp)
    assert (root / "part.bin").read_bytes() == b"A" * 600


# ---------------------------------------------------------------------------------------------
# 12. triggers on the server
# ---------------------------------------------------------------------------------------------


def upload_codes(ftp: ftplib.FTP, n: int, name: str = "t{}.bin") -> list[int]:
    codes = []
    for i in range(n):
        try:
            final = ftp.storbinary(f"STOR {name.format(i)}", io.BytesIO(payload(2000, seed=i)))
        except ftplib.error_temp as err:
            final = str(err)
        codes.append(int(final[:3]))
        noop_ok(ftp)
    return codes


def test_times_on_the_server_disarms_the_rule(server, ftp, root, recorder):
    rule = server.board.add("upload=451,times=2")
    assert upload_codes(ftp, 4) == [451, 451, 226, 226]
    assert server.board.get(rule.id).enabled is False
    stats = server.board.stats(rule.id)
    assert (stats.fired, stats.remaining) == (2, 0)
    assert [f.path for f in recorder.wait("fault", count=2)] == ["/t0.bin", "/t1.bin"]
    for i in range(4):
        assert (root / f"t{i}.bin").read_bytes() == payload(2000, seed=i)


def test_every_on_the_server(server, ftp, recorder):
    rule = server.board.add("upload=450,every=2")
    assert upload_codes(ftp, 6) == [226, 450] * 3
    assert (server.board.stats(rule.id).matched, server.board.fired(rule.id)) == (6, 3)


def _chance_run(settings: Settings, extra_rule_after: bool) -> tuple[list[int], list[bool]]:
    board = FaultBoard(seed=7)
    with FaultServer(settings, board=board) as server:
        rule = board.add("upload=451,chance=0.5")
        if extra_rule_after:
            board.add("upload=452,chance=0.5,path=*.none")  # never matches these uploads
            board.add("download=425,chance=0.5")
        client = connect(server)
        try:
            codes = upload_codes(client, 16)
        finally:
            client.close()
        assert board.stats(rule.id).matched == 16
    expected_board = FaultBoard(seed=7)
    expected_rule = expected_board.add("upload=451,chance=0.5")
    return codes, fires(expected_board, expected_rule, 16)


def test_seeded_chance_is_reproducible_run_to_run(settings):
    first, expected = _chance_run(settings, extra_rule_after=False)
    assert first == [451 if hit else 226 for hit in expected]
    assert 451 in first and 226 in first
    second, _ = _chance_run(settings, extra_rule_after=True)
    assert second == first


def test_path_trigger_on_the_file_name(server, ftp, root, recorder):
    (root / "keep.txt").write_bytes(b"t")
    (root / "disc.iso").write_bytes(b"i")
    server.board.add("upload=451,path=*.bin")
    server.board.add("download=450,path=*.iso")
    assert ftp.storbinary("STOR a.txt", io.BytesIO(b"x")).startswith("226")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR b.bin", io.BytesIO(b"x"))
    assert ftp.retrbinary("RETR keep.txt", lambda b: None).startswith("226")
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.retrbinary("RETR disc.iso", lambda b: None)
    noop_ok(ftp)
    assert [(f.point, f.path) for f in recorder.wait("fault", count=2)] == [
        ("upload", "/b.bin"), ("download", "/disc.iso")]


@pytest.fixture
def anon_server(root):
    with FaultServer(Settings(root=root, port=0, passive_ports=None, anonymous=True)) as srv:
        yield srv


def test_user_trigger(anon_server, root):
    server = anon_server
    (root / "f.bin").write_bytes(b"abc")
    server.board.add(f"download=450,user={USER}")
    server.board.add("login=530,user=anonymous")
    user = connect(server)
    with pytest.raises(ftplib.error_temp, match="^450 "):
        user.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(user)
    anon = ftplib.FTP(timeout=DEADLINE)
    anon.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^530 "):
        anon.login()
    noop_ok(anon)
    anon.close()
    user.close()
    # and the download rule spares anonymous (the login rule gone)
    server.board.remove(server.board.first("login").id)
    anon = ftplib.FTP(timeout=DEADLINE)
    anon.connect("127.0.0.1", server.port)
    anon.login()
    got = bytearray()
    assert anon.retrbinary("RETR f.bin", got.extend).startswith("226") and got == b"abc"
    anon.quit()


def test_triggers_combine(server, ftp, root):
    rule = server.board.add("upload=451,path=*.bin,every=2,times=2")
    outcomes = []
    for name in ("a.bin", "b.txt", "c.bin", "d.bin", "e.bin", "f.bin", "g.bin"):
        try:
            ftp.storbinary(f"STOR {name}", io.BytesIO(b"x"))
            outcomes.append(226)
        except ftplib.error_temp:
            outcomes.append(451)
        noop_ok(ftp)
    # *.bin matches: a c d e f g -> every 2nd fires: c, e; then times ran out
    assert outcomes == [226, 226, 451, 226, 451, 226, 226]
    assert server.board.get(rule.id).enabled is False
    assert server.board.stats(rule.id).matched == 4
