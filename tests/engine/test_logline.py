"""The log line an event becomes (the console's log, the headless output): whatever a client
sends, the line carries no control character, so a client cannot clear the screen, colour
it, or forge a line that looks like the server's own.

Fed from a live server, since the client's bytes pass pyftpdlib's decoding first; the
layout of the lines themselves is pinned by tests/automation/test_cli.py (headless log).
"""

from __future__ import annotations

import re
import socket

import pytest

from tests.support.ftp import session_for
from tests.support.rawftp import RawFTP
from tests.support.servers import DEADLINE
from tui.engine.logline import format_event

CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@pytest.mark.parametrize(
    "line", [b"\x1b[2J\x1b[1;31mOWNED\x07", b"FOO\n12:00:00.000 #1 login admin ok"],
    ids=["terminal-escape", "forged-log-line"],
)
def test_log_lines_of_garbage_carry_no_control_characters(server, recorder, line):
    raw = RawFTP(server.port)
    try:
        sid = session_for(recorder, raw.sock)
        raw.sock.sendall(line + b"\r\n")
        raw.reply()
    finally:
        raw.close()
    recorder.wait("session.close", session=sid)
    lines = [format_event(e) for e in recorder.of("command", session=sid)]
    lines += [format_event(e) for e in recorder.of("reply", session=sid)]
    bad = [text for text in lines if text and CONTROL_CHARS.search(text)]
    assert bad == []


def test_the_lines_of_the_new_faults(server, recorder):
    """A greeting's fault names no command; an extra reply says it answers none."""
    server.board.add("connect=421,times=1")
    server.board.add("cmd:NOOP,extra=226")
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        assert sock.recv(100).startswith(b"421 ")  # the greeting is all there is
    raw = RawFTP(server.port)
    raw.login()
    raw.cmd("NOOP")
    assert raw.reply() == "226 Transfer complete."
    raw.close()
    server.settle()
    text = "\n".join(filter(None, map(format_event, recorder.of("fault") + recorder.of("reply"))))
    assert re.search(r"#1 FAULT connect -> 421 Service not available, closing control "
                     r"connection\. \(rule r1\)$", text, re.M), text
    assert re.search(r"SHAPE cmd:NOOP normal reply, then a stray 226 \(NOOP, rule r2\)$", text, re.M)
    assert re.search(r"-> 226 Transfer complete\. \(unsolicited: the answer to no command\)$",
                     text, re.M), text
