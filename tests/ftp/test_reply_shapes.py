"""Reply shapes: the command succeeds (or fails as the rule says), the reply is valid, just
unusual: ``multiline`` (and ``=bad``: an empty first line, an unpadded inner line with
another code), ``lf`` (bare LF line ends), ``split=BYTES`` (the reply in pieces), ``extra``
(a second reply nobody asked for) and ``early`` (a download's 226 before its last bytes).

The raw client shows the bytes on the wire; ftplib shows what a careful client makes of
them; NOOP -> 200 after each, except where ``extra`` puts the client one reply behind on
purpose, which the test shows.
"""

from __future__ import annotations

import ftplib
import io
import re
import socket

import pytest

from tests.support.clients import assert_one_final_reply_per_command
from tests.support.ftp import noop_ok
from tests.support.rawftp import raw_retrieve, raw_store, read_all
from tests.support.servers import serve_file, sha256, wait_until
from tui.engine.ftp import control, data, transfer
from tui.engine.points import STANDARD_MESSAGES

PWD_REPLY = b'257 "/" is the current directory.'


# --- multiline


def test_multiline_completion_reply(server, ftp, root, recorder):
    serve_file(root, "f.bin", 50_000, seed=1)
    server.board.add("download,multiline")
    got = bytearray()
    reply = ftp.retrbinary("RETR f.bin", got.extend)
    assert reply == "226-Transfer complete.\n226 Transfer complete."
    noop_ok(ftp)
    (event,) = recorder.wait("reply", code=226)
    assert event.lines == ("226-Transfer complete.",)


def test_multiline_fault_reply(server, ftp):
    server.board.add("upload=451,multiline")
    with pytest.raises(ftplib.error_temp) as err:
        ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 1000))
    text = STANDARD_MESSAGES[451]
    assert str(err.value) == f"451-{text}\n451 {text}"
    noop_ok(ftp)


def test_bad_multiline_is_valid_yet_misleads_a_parser_that_stops_at_any_code(server, ftp, raw):
    server.board.add("cmd:PWD,multiline=bad")
    raw.send("PWD")
    chunks = raw.wire_until(PWD_REPLY + b"\r\n")
    lines = b"".join(chunks).decode().split("\r\n")[:-1]
    assert lines == ["257-", "500 is not the last line of this reply", PWD_REPLY.decode()]
    # a parser that ends a reply at the first "NNN " line reads a 500 here...
    assert next(line for line in lines if re.match(r"\d{3} ", line)).startswith("500 ")
    noop_ok(raw)
    # ...an RFC 959 one (ftplib) reads the whole reply and stays in step, though its pwd()
    # finds no directory in a multi-line 257 (it reads a name only after "257 ")
    assert ftp.sendcmd("PWD").splitlines()[-1] == PWD_REPLY.decode()
    assert ftp.pwd() == ""
    noop_ok(ftp)


# --- lf


def test_lf_ends_the_lines_with_a_bare_lf(server, ftp, raw):
    server.board.add("cmd:PWD,lf")
    raw.send("PWD")
    assert b"".join(raw.wire_until(b"\n")) == PWD_REPLY + b"\n"
    noop_ok(raw)
    assert ftp.pwd() == "/"  # ftplib takes a bare LF
    noop_ok(ftp)


def test_lf_on_a_multiline_reply_pyftpdlib_builds(server, raw):
    """FEAT's lines are pushed before its last one: the shape applies to all of them."""
    server.board.add("cmd:FEAT,lf")
    raw.send("FEAT")
    wire = b"".join(raw.wire_until(b"211 End FEAT.\n"))
    assert wire.startswith(b"211-Features supported:\n") and b"\r" not in wire
    noop_ok(raw)


# --- split


@pytest.fixture
def slow_pieces(monkeypatch):
    """Pieces far enough apart that each arrives on its own."""
    monkeypatch.setattr(control, "SPLIT_PAUSE", 0.2)


def test_split_writes_the_reply_in_pieces(server, ftp, raw, slow_pieces):
    server.board.add("cmd:PWD,split=8")
    raw.send("PWD")
    chunks = raw.wire_until(PWD_REPLY + b"\r\n")
    assert b"".join(chunks) == PWD_REPLY + b"\r\n"
    # pieces of 8 bytes (pieces read together, when the reader was late, are 8 apiece)
    assert len(chunks) > 1 and all(len(c) % 8 == 0 for c in chunks[:-1]), chunks
    noop_ok(raw)
    assert ftp.pwd() == "/"  # a client that reads lines does not notice
    noop_ok(ftp)


def test_commands_sent_during_a_split_reply_wait_their_turn(server, raw, slow_pieces):
    server.board.add("cmd:PWD,split=5,times=1")
    raw.send(b"PWD\r\nNOOP\r\nPWD")  # pipelined
    wire = b"".join(raw.wire_until(PWD_REPLY + b"\r\n200 I successfully did nothing'.\r\n"
                                   + PWD_REPLY + b"\r\n"))
    assert wire.count(b"\r\n") == 3
    noop_ok(raw)


def test_a_split_150_comes_whole_before_the_226(server, root, raw):
    """The data may be all sent before the last piece of the 150: the 226 waits behind it."""
    data = serve_file(root, "f.bin", 10, seed=2)
    server.board.add("download-start,split=3")
    first, got, final = raw_retrieve(raw, "RETR f.bin")
    assert first in ("125 Data connection already open. Transfer starting.",
                     "150 File status okay. About to open data connection.")
    assert (got, final) == (data, "226 Transfer complete.")
    noop_ok(raw)


def test_split_then_hang_up(server, raw, slow_pieces):
    """A 421 split in pieces is out whole before the server closes the connection."""
    server.board.add("cmd:NOOP=421,split=10")
    raw.send("NOOP")
    assert raw.reply() == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.file.read() == b""


# --- extra


def test_extra_reply_after_a_fault_is_read_by_the_next_command(server, recorder, ftp, root):
    """The seed article's server: 426, then a stray 226. ftplib reads the 226 as the answer
    to its NOOP, and stays one reply behind until it reads one more."""
    server.board.add("upload=426,extra=226,times=1")
    with pytest.raises(ftplib.error_temp, match="^426 "):
        ftp.storbinary("STOR up.bin", io.BytesIO(b"x" * 2000))
    assert ftp.voidcmd("NOOP") == "226 Transfer complete."  # the stray one
    assert ftp.sendcmd("PWD").startswith("200 ")  # the NOOP's, late
    assert ftp.getresp().startswith('257 "/"')  # the PWD's: in step again
    noop_ok(ftp)
    server.settle()
    replies = recorder.of("reply")
    stray = [r for r in replies if r.unsolicited]
    assert [(r.code, r.message) for r in stray] == [(226, "Transfer complete.")]
    assert_one_final_reply_per_command(recorder)  # every command still got its own


def test_extra_reply_with_a_message_and_without_a_code(server, root, raw):
    serve_file(root, "f.bin", 1000, seed=3)
    server.board.add("download,extra=250:Bonus reply")
    first, got, final = raw_retrieve(raw, "RETR f.bin")
    assert final == "226 Transfer complete."
    assert raw.reply() == "250 Bonus reply"
    noop_ok(raw)


def test_extra_then_drop(server, raw):
    server.board.add("cmd:CWD=421,drop,extra=226")
    assert raw.cmd("CWD /") == f"421 {STANDARD_MESSAGES[421]}"
    assert raw.reply() == "226 Transfer complete."
    assert raw.file.read() == b""


# --- early


@pytest.fixture
def late_tail(monkeypatch):
    """The rest of an early download far enough behind its reply to see it missing."""
    monkeypatch.setattr(data, "EARLY_DELAY", 2.0)


def early_mark(size: int) -> int:
    return size - min(transfer.EARLY_TAIL, size // 2)


def available(sock: socket.socket) -> bytes:
    """What the data connection holds now, without waiting."""
    got = bytearray()
    sock.setblocking(False)
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except BlockingIOError:
        pass
    sock.setblocking(True)
    return bytes(got)


def test_early_226_comes_before_the_last_bytes(server, recorder, root, raw, late_tail):
    content = serve_file(root, "f.bin", 60_000, seed=4)  # fits the socket buffers unread
    server.board.add("download,early")
    assert raw.cmd("TYPE I").startswith("200")
    data_sock = raw.transfer("RETR f.bin")
    assert raw.reply() == "226 Transfer complete."
    before = available(data_sock)
    assert len(before) <= early_mark(len(content)) < len(content)
    assert sha256(before + read_all(data_sock)) == sha256(content)  # the rest follows
    noop_ok(raw)
    (done,) = recorder.wait("transfer")
    assert (done.code, done.bytes) == (226, len(content))
    server.settle()
    assert_one_final_reply_per_command(recorder)


def test_a_client_that_drops_the_data_at_the_226_loses_the_tail(server, recorder, root, raw,
                                                                 late_tail):
    """(FluentFTP PR 1077, 1658.) And no second reply comes for the broken data connection."""
    content = serve_file(root, "f.bin", 60_000, seed=5)
    server.board.add("download,early")
    assert raw.cmd("TYPE I").startswith("200")
    data_sock = raw.transfer("RETR f.bin")
    assert raw.reply() == "226 Transfer complete."
    got = available(data_sock)
    data_sock.close()
    assert len(got) < len(content)
    assert recorder.wait("transfer")[0].code == 226  # its only final reply, the early one
    noop_ok(raw)
    server.settle()
    assert_one_final_reply_per_command(recorder)


def test_ftplib_reads_the_data_to_its_end_and_gets_it_all(server, ftp, root):
    content = serve_file(root, "f.bin", 300_000, seed=6)
    server.board.add("download=426,early")
    got = bytearray()
    with pytest.raises(ftplib.error_temp, match="^426 "):
        ftp.retrbinary("RETR f.bin", got.extend)
    assert sha256(got) == sha256(content)
    noop_ok(ftp)


def test_early_with_nothing_to_hold_back(server, root, raw):
    """A download of one byte or none has no last bytes to hold back: a normal end."""
    (root / "empty.bin").write_bytes(b"")
    server.board.add("download,early")
    assert raw_retrieve(raw, "RETR empty.bin")[1:] == (b"", "226 Transfer complete.")
    noop_ok(raw)
    assert raw_store(raw, "up.bin", b"abc")[1] == "226 Transfer complete."
    wait_until(lambda: (root / "up.bin").exists())
