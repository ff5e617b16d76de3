"""Completion faults on downloads (``download=CODE``): every byte arrives, in binary mode
(sendfile) and in ASCII mode (a producer), then the fault's reply instead of the 226; and
the control channel read byte by byte over repeated faulted transfers, both directions,
so a stray 226 after a fault reply would show.

A data connection that carried nothing is no transfer; cuts are in test_cut.py, what
ftplib makes of download faults in tests/clients/test_ftplib.py.
"""

from __future__ import annotations

import pytest

from tests.support.ftp import lines, noop_ok, only_fault
from tests.support.rawftp import RawFTP, raw_retrieve, read_all
from tests.support.servers import payload
from tui.engine.points import STANDARD_MESSAGES


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


@pytest.mark.parametrize("direction", ["upload", "download"])
@pytest.mark.parametrize("type_", ["I", "A"])
def test_raw_control_channel_carries_exactly_one_final_reply(server, root, direction, type_):
    """Read the control channel byte for byte: after the fault reply the next thing the
    server says must be the answer to our NOOP, not a stray 226."""
    data = payload(400_000) if type_ == "I" else b"text line\r\n" * 40_000
    (root / "d.bin").write_bytes(data if type_ == "I" else data.replace(b"\r\n", b"\n"))
    server.board.add(f"{direction}=451")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd(f"TYPE {type_}").startswith("200")
    for _ in range(3):
        data_sock = raw.pasv()
        if direction == "upload":
            raw.send("STOR u.bin")
            assert raw.reply()[:3] in ("125", "150")
            data_sock.sendall(data)
            data_sock.close()
        else:
            raw.send("RETR d.bin")
            assert raw.reply()[:3] in ("125", "150")
            assert read_all(data_sock) == data
        assert raw.reply().startswith("451 ")
        assert raw.cmd("NOOP").startswith("200")
    assert raw.cmd("QUIT").startswith("221")
    raw.close()


def test_a_data_connection_that_carried_nothing_is_no_transfer(server, root, recorder):
    """A client that opens the data connection first (as curl does) and then asks for a
    missing file: no phantom transfer event borrowing the previous command's file."""
    (root / "real.bin").write_bytes(b"abc")
    server.board.add("download=451")
    raw = RawFTP(server.port)
    raw.login()
    for name, final in (("real.bin", "451"), ("missing.bin", "550")):
        data_sock = raw.pasv()
        raw.send(f"RETR {name}")
        reply = raw.reply()
        if final == "451":
            assert reply[:3] in ("125", "150")
            assert read_all(data_sock) == b"abc"
            reply = raw.reply()
        assert reply.startswith(final), reply
        data_sock.close()
        assert raw.cmd("NOOP").startswith("200")
    assert raw.cmd("QUIT").startswith("221")
    raw.close()
    recorder.wait("session.close")
    assert [(t.path, t.code) for t in recorder.of("transfer")] == [("/real.bin", 451)]
    assert server.board.fired(server.board.first("download").id) == 1
