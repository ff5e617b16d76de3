"""Garbage on the control channel: random bytes, NULs, invalid UTF-8, Telnet sequences,
lines far over pyftpdlib's limit, a bare CR or LF inside a line. Each line gets exactly
one reply and the session goes on (logged in or not), a noisy client holds up no other,
and the events stay bounded.

What the log line makes of such text is in tests/engine/test_logline.py.
"""

from __future__ import annotations

import ftplib
import io
import random

import pytest

from tests.support.ftp import assert_serves_a_fresh_client, session_for
from tests.support.rawftp import RawFTP
from tests.support.servers import connect, file_sha256, payload, sha256
from tui.engine.ftp.control import MAX_ARG_LEN


# pyftpdlib's own limit for one command line (FTPHandler.collect_incoming_data); replies that
# echo part of a line are bounded by it.
PYFTPDLIB_LINE_LIMIT = 2048


def replies_until_noop(raw: RawFTP) -> list[str]:
    """Every reply line the server sends before the ``200`` that answers our NOOP.

    Lines are read as the server wrote them (split at LF), so a reply that contains a bare
    LF shows as two lines here, as it does to a line-based client."""
    lines = []
    while True:
        line = raw.file.readline()
        if not line:
            raise ConnectionError(f"control connection closed after {lines!r}")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("200 "):
            return lines
        lines.append(text)
        assert len(lines) < 50, f"the server keeps talking: {lines[:5]!r}..."


RNG_BYTES = random.Random(20240601).randbytes(600)


# (id, line without CRLF, expected reply code logged in, expected reply code before login)
GARBAGE = [
    # random bytes without CR/LF (a bare CR or LF is test_bare_cr_or_lf_...)
    ("random-binary", RNG_BYTES.replace(b"\r", b"").replace(b"\n", b""), "500", "500"),
    ("nul-bytes", b"\x00" * 16, "500", "500"),
    ("nul-0xff-mix", b"\x00\xff\x00\xfe\xff STOR \x00", "500", "500"),
    ("invalid-utf8", b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc \xff\xfe\xed\xa0\x80",
     "500", "500"),
    ("empty-line", b"", "500", "500"),
    ("only-spaces", b" " * 40, "500", "500"),
    ("unknown-verb", b"FROBNICATE the server", "500", "500"),
    ("long-unknown-verb", b"Q" * 1900, "500", "500"),
    ("unknown-verb-huge-arg", b"FROB " + b"x" * 1900, "500", "500"),
    ("noop-huge-arg", b"NOOP " + b"y" * 1900, "501", "501"),
    ("cwd-huge-arg", b"CWD " + b"z" * 1900, "550", "530"),
    ("retr-huge-arg", b"RETR " + b"w" * 1900, "550", "530"),
    ("telnet-iac-garbage", b"\xff\xf4\xff\xf2FROB", "500", "500"),
    ("telnet-negotiation", b"\xff\xfb\x01\xff\xfd\x03\xff\xfe\x22", "500", "500"),
    # RFC 959 "Telnet IP + Synch, then ABOR": pyftpdlib honours it, still one reply
    ("telnet-ip-synch-abor", b"\xff\xf4\xff\xf2ABOR", "225", "530"),
]


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged-in", "before-login"])
@pytest.mark.parametrize(
    "line, code_in, code_out", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
def test_garbage_line_gets_one_reply_and_the_session_goes_on(
    server, root, recorder, line, code_in, code_out, logged_in
):
    assert len(line) < PYFTPDLIB_LINE_LIMIT and b"\r" not in line and b"\n" not in line
    raw = RawFTP(server.port)
    try:
        sid = session_for(recorder, raw.sock)
        if logged_in:
            raw.login()
        raw.sock.sendall(line + b"\r\nNOOP\r\n")
        replies = replies_until_noop(raw)
        expected = code_in if logged_in else code_out
        assert len(replies) == 1, f"one reply expected, got {replies!r}"
        assert replies[0].startswith(f"{expected} "), replies
        # the same connection goes on: a second command, another single reply
        assert raw.cmd("NOOP").startswith("200")
        assert raw.cmd("QUIT").startswith("221")
    finally:
        raw.close()

    # the server's view: one reply event per reply the client read, nothing else
    # (greeting, [USER, PASS], garbage, NOOP, NOOP, QUIT)
    n_replies = 1 + (2 if logged_in else 0) + 4
    assert len(recorder.wait("reply", count=n_replies, session=sid)) == n_replies
    commands = recorder.of("command", session=sid)
    assert len(commands) == n_replies - 1
    for event in commands:
        assert len(event.command) <= MAX_ARG_LEN and len(event.arg) <= MAX_ARG_LEN, event
    for event in recorder.of("reply", session=sid):
        # bounded by pyftpdlib's line limit, not by MAX_ARG_LEN: see the report
        assert len(event.message) <= PYFTPDLIB_LINE_LIMIT + 64
    if len(line) > MAX_ARG_LEN + 10:
        # the long part is cut in the command event, not kept whole
        assert any(
            len(e.command) == MAX_ARG_LEN or len(e.arg) == MAX_ARG_LEN for e in commands
        ), commands
    recorder.wait("session.close", session=sid)
    assert recorder.of("error") == []
    assert recorder.of("transfer") == [] and recorder.of("fault") == []
    assert list(root.iterdir()) == []
    assert_serves_a_fresh_client(server)


def test_a_client_sending_garbage_does_not_hold_up_others(server, root, recorder):
    """Garbage on one connection while another client transfers on its own."""
    server.board.add("upload=451")
    noisy = RawFTP(server.port)
    good = connect(server)
    try:
        data = payload(300_000, seed=99)
        for line, _, _ in [g[1:] for g in GARBAGE]:
            noisy.sock.sendall(line + b"\r\nNOOP\r\n")
            assert len(replies_until_noop(noisy)) == 1
            with pytest.raises(ftplib.error_temp, match="^451 "):
                good.storbinary("STOR good.bin", io.BytesIO(data))
            assert good.voidcmd("NOOP").startswith("200")
        assert file_sha256(root / "good.bin") == sha256(data)
        good.quit()
    finally:
        good.close()
        noisy.close()
    assert len(recorder.of("fault")) == len(GARBAGE)
    assert recorder.of("error") == []


def test_over_long_line_gets_one_reply_ftplib(server, recorder):
    ftp = connect(server)
    try:
        with pytest.raises(ftplib.error_perm, match="^500 "):
            ftp.sendcmd("SITE " + "x" * 10_000)
        assert ftp.voidcmd("NOOP").startswith("200 ")
    finally:
        ftp.close()
    assert recorder.of("error") == []


@pytest.mark.parametrize(
    "size, split", [(10_000, False), (100_000, True)], ids=["10K", "100K-partial"]
)
def test_over_long_line_gets_one_reply_raw(server, recorder, size, split):
    raw = RawFTP(server.port)
    try:
        raw.login()
        if split:  # the partial line first; the server may say nothing until the CRLF
            raw.sock.sendall(b"A" * size)
            raw.sock.sendall(b"\r\nNOOP\r\n")
        else:
            raw.sock.sendall(b"A" * size + b"\r\nNOOP\r\n")
        replies = replies_until_noop(raw)
        assert len(replies) == 1 and replies[0].startswith("500 "), replies
    finally:
        raw.close()


@pytest.mark.parametrize(
    "line", [b"FOO\nBAR", b"FOO\rBAR", b"NOOP\n200 forged", RNG_BYTES],
    ids=["bare-lf", "bare-cr", "forged-200", "random-binary-with-cr-lf"],
)
def test_bare_cr_or_lf_inside_a_line_does_not_desync_ftplib(server, recorder, line):
    assert b"\r\n" not in line
    ftp = connect(server)
    try:
        ftp.sock.sendall(line + b"\r\n")
        with pytest.raises(ftplib.error_perm, match="^500 "):
            ftp.getresp()
        assert ftp.voidcmd("NOOP").startswith("200 ")
    finally:
        ftp.close()
