"""Paths a client names and paths a listing shows.

- A NUL in a command's argument (a path) cannot reach the file system: pyftpdlib would
  fail on it and drop the session without a reply. It gets one ``501`` and the session
  goes on, for every command that takes a path, logged in or not; a NUL in a line that
  is no command at all is still that line's ``500``.
- A listing shows a symlink by its name only: ``LIST`` (and ``STAT DIR``) never says
  ``-> /where/it/points``, whether that is outside the root or inside; ``MLSD`` neither.

Other garbage on the control channel is in test_garbage.py.
"""

from __future__ import annotations

import ftplib
import os

import pytest

from tests.support.ftp import assert_serves_a_fresh_client, noop_ok, session_for
from tests.support.rawftp import RawFTP, raw_retrieve, raw_store

NUL_COMMANDS = [
    "RETR a\x00b", "RETR \x00", "STOR up\x00.bin", "APPE a\x00", "STOU x\x00", "CWD \x00", "CWD sub\x00/..",
    "MKD d\x00", "RMD sub\x00", "DELE f.bin\x00", "RNFR f\x00.bin", "RNTO \x00", "SIZE f.bin\x00",
    "MDTM \x00f.bin", "LIST \x00", "NLST sub\x00", "MLSD \x00", "MLST f\x00.bin", "STAT f\x00",
    "SITE CHMOD 644 f.bin\x00", "MFMT 20200101000000 f\x00.bin", "REST \x00", "TYPE \x00",
]


@pytest.fixture
def files(root):
    (root / "f.bin").write_bytes(b"file")
    (root / "sub").mkdir()
    return root


def listing(root) -> list[tuple[str, bytes | None]]:
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else None)
                  for p in root.rglob("*"))


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged-in", "before-login"])
@pytest.mark.parametrize("line", NUL_COMMANDS, ids=[c.split()[0] + "-" + c.split()[-1].encode(
    "unicode_escape").decode() for c in NUL_COMMANDS])
def test_a_nul_in_the_argument_is_501_and_the_session_goes_on(server, files, recorder, line, logged_in):
    before = listing(files)
    raw = RawFTP(server.port)
    try:
        sid = session_for(recorder, raw.sock)
        if logged_in:
            raw.login()
        reply = raw.cmd(line)
        assert reply == "501 Syntax error: a NUL character in the argument.", reply
        noop_ok(raw)
        if logged_in:  # and it still works as a file session
            assert raw.cmd("CWD sub").startswith("250")
            assert raw.cmd("PWD").startswith('257 "/sub"')
        assert raw.cmd("QUIT").startswith("221")
    finally:
        raw.close()
    recorder.wait("session.close", session=sid)
    (command,) = [e for e in recorder.of("command", session=sid) if "\x00" in e.arg]
    assert command.command == line.split(" ")[0] or line.startswith("SITE")
    assert recorder.of("error") == [] and recorder.of("transfer") == []
    assert listing(files) == before  # nothing touched
    assert_serves_a_fresh_client(server)


def test_a_nul_with_a_data_connection_waiting_leaves_it_usable(server, files, recorder):
    raw = RawFTP(server.port)
    try:
        raw.login()
        data_sock = raw.pasv()
        assert raw.cmd("RETR f\x00.bin").startswith("501 ")
        data_sock.close()
        assert raw_retrieve(raw, "RETR f.bin")[1:] == (b"file", "226 Transfer complete.")
        assert raw_store(raw, "after.bin", b"after")[1].startswith("226")
        noop_ok(raw)
    finally:
        raw.close()
    assert (files / "after.bin").read_bytes() == b"after"


@pytest.mark.parametrize("line", [b"XSTAT \x00", b"FOOSTAT f\x00.bin", b"\xff\xf4\xff\xf2STAT \x00",
                                  b"\xff\xf4\xff\xf2ABOR \x00", b"XQUIT \x00"],
                         ids=["xstat", "foostat", "telnet-stat", "telnet-abor", "xquit"])
def test_a_verb_known_by_its_last_four_letters_with_a_nul_is_501_too(server, files, line):
    """pyftpdlib runs an unknown verb ending in STAT, ABOR or QUIT as that command (RFC 959
    clients send them after Telnet IP and Synch): a STAT of a path with a NUL in it."""
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.send(line)
        assert raw.reply() == "501 Syntax error: a NUL character in the argument."
        noop_ok(raw)
    finally:
        raw.close()
    assert_serves_a_fresh_client(server)


@pytest.mark.parametrize("line", [b"\x00RETR f.bin", b"RE\x00TR f.bin", b"\x00", b"FROB \x00",
                                  b"SITE FROB \x00"], ids=["before", "inside", "alone", "unknown", "site"])
def test_a_nul_in_a_line_that_is_no_command_is_still_500(server, files, line):
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.send(line)
        assert raw.reply().startswith("500 ")
        noop_ok(raw)
    finally:
        raw.close()


def test_ftplib_with_a_nul_in_a_path_gets_an_error_it_understands(server, files, ftp):
    with pytest.raises(ftplib.error_perm, match="^501 "):
        ftp.retrbinary("RETR f\x00.bin", lambda b: None)
    with pytest.raises(ftplib.error_perm, match="^501 "):
        ftp.cwd("\x00")
    assert ftp.size("f.bin") == 4


# --- symlinks in listings


@pytest.fixture
def links(root, tmp_path):
    """Inside the root: a file, links to a directory and a file outside it, one inside,
    and one that points nowhere."""
    outside = tmp_path / "home" / "someone" / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_text("not for clients")
    (root / "plain.txt").write_text("plain")
    os.symlink(outside, root / "out-dir")
    os.symlink(outside / "secret.txt", root / "out-file")
    os.symlink("plain.txt", root / "in-file")
    os.symlink(tmp_path / "nowhere", root / "dangling")
    return str(outside)


def names_in(lines: list[str]) -> list[str]:
    return sorted(line.split(None, 8)[-1] for line in lines)


def test_list_shows_a_symlink_by_its_name_only(ftp, links):
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert names_in(lines) == ["dangling", "in-file", "out-dir", "out-file", "plain.txt"]
    assert not [line for line in lines if "->" in line or links in line or "nowhere" in line]
    assert [line[0] for line in sorted(lines, key=lambda l: l.split()[-1])] == ["l", "l", "l", "l", "-"]


def test_list_of_the_link_itself_and_stat_of_the_directory_say_no_more(ftp, links):
    lines: list[str] = []
    ftp.retrlines("LIST in-file", lines.append)
    assert names_in(lines) == ["in-file"] and "->" not in lines[0]
    with pytest.raises(ftplib.error_perm, match="^550 ") as refused:  # outside the root
        ftp.retrlines("LIST out-file", lines.append)
    assert links not in str(refused.value)
    status = ftp.sendcmd("STAT /")
    assert "out-dir" in status and "->" not in status and links not in status


def test_mlsd_shows_a_symlink_by_its_name_only(ftp, links):
    entries = dict(ftp.mlsd(facts=["type", "size", "perm"]))
    assert {"in-file", "out-dir", "out-file", "plain.txt"} <= set(entries)
    assert not [name for name in entries if "->" in name or links in name]
    assert not [facts for facts in entries.values() if any(links in v for v in facts.values())]
    with pytest.raises(ftplib.error_perm, match="^550 "):  # no way through to what it points at
        ftp.retrbinary("RETR out-file", lambda b: None)
    with pytest.raises(ftplib.error_perm, match="^550 "):
        ftp.cwd("out-dir")
    got = bytearray()
    ftp.retrbinary("RETR in-file", got.extend)  # a link inside the root works as its file
    assert bytes(got) == b"plain"
