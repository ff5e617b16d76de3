"""Cases the property test (test_property.py) ran into, pinned as plain tests."""

from __future__ import annotations

import pytest

from tests.support.rawftp import RawFTP

COMPLETE = "226 Transfer complete."


def test_keep_no_with_a_pure_delay_still_reports_the_upload_failed(server, root):
    """'upload,delay=S,keep=no' used to answer 226 Transfer complete. and remove the file:
    the client was told the upload succeeded and the bytes were gone. keep=no without a
    code now answers the point's default, 426."""
    rule = server.board.add("upload,delay=0.01,keep=no")
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")
    data_sock = raw.transfer("STOR up.bin")
    data_sock.sendall(b"precious bytes")
    data_sock.close()
    assert raw.reply() == "426 Connection closed; transfer aborted."
    assert raw.cmd("QUIT").startswith("221")
    raw.close()
    assert server.board.fired(rule.id) == 1
    assert not (root / "up.bin").exists()


@pytest.mark.parametrize("spec", ["download-start=450", "cmd:RETR=450"])
def test_a_refused_retr_uses_up_rest(server, root, spec):
    """REST applies to the next transfer command, whether it succeeds or not. A refused
    RETR that left it pending turned the next STOR into a resumed one: b"ABCDExyzIJ"."""
    (root / "old.bin").write_bytes(b"0123456789")
    (root / "target.bin").write_bytes(b"ABCDEFGHIJ")
    rule = server.board.add(spec)
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")
    assert raw.cmd("REST 5").startswith("350")
    assert raw.cmd("RETR old.bin").startswith("450 ")
    server.board.remove(rule.id)
    data_sock = raw.transfer("STOR target.bin")
    data_sock.sendall(b"xyz")
    data_sock.close()
    assert raw.reply() == COMPLETE
    assert raw.cmd("QUIT").startswith("221")
    raw.close()
    assert (root / "target.bin").read_bytes() == b"xyz"
