"""``--partial-suffix .part``: a new upload is written as NAME.part and renamed to NAME
only once it is whole, so a file under its own name is never a cut one.

- A whole upload ends under its name, no ``.part`` left, replacing an older NAME only then
  (while it runs the old file is still there, whole).
- An upload that does not complete stays NAME.part: cut by a rule (``after=``; ``keep=no``
  removes it), reset by the client, or stopped by SIGTERM on a headless server. Its
  transfer event says the reply it got (the rule's code, 426 for a reset) or ``null`` when
  the stop left it none, so the journal tells a cut upload from a whole one with or
  without a suffix.
- APPE and REST+STOR write in place, as without a suffix: they continue the bytes already
  in NAME, which a temporary file would have to copy first, and a client that resumes asks
  SIZE NAME for where to go on. STOU writes its new unique name directly.
- Events name the file by its final name; a file whose own name ends in the suffix is just
  a file (APPE, RETR, STOR of ``x.part`` keep that name).
"""

from __future__ import annotations

import ftplib
import io
import signal

import pytest

from tests.support.control import read_journal
from tests.support.ftp import noop_ok, reset_on_close
from tests.support.rawftp import RawFTP, raw_retrieve, raw_store
from tests.support.servers import connect, payload, wait_until
from tui.engine.ftp.control import FaultFTPHandler
from tui.engine.server import FaultServer
from tui.engine.settings import Settings

SUFFIX = ".part"


@pytest.fixture
def settings(root) -> Settings:
    return Settings(root=root, port=0, passive_ports=None, partial_suffix=SUFFIX)


def names(root) -> list[str]:
    return sorted(p.name for p in root.iterdir())


def transfer_of(recorder, path: str):
    (transfer,) = recorder.wait("transfer", path=path)
    return transfer


def test_a_whole_upload_ends_under_its_name_before_the_226(server, ftp, root, recorder, monkeypatch):
    """A client told 226 may look for the file at once (on another connection, say)."""
    on_disk_at_226 = []
    respond = FaultFTPHandler.respond

    def noting(self, resp, *args, **kwargs):
        if resp.startswith("226"):
            on_disk_at_226.append(names(root))
        respond(self, resp, *args, **kwargs)

    monkeypatch.setattr(FaultFTPHandler, "respond", noting)
    data = payload(300_000, seed=1)
    assert ftp.storbinary("STOR a.bin", io.BytesIO(data)).startswith("226")
    assert on_disk_at_226 == [["a.bin"]]
    assert names(root) == ["a.bin"] and (root / "a.bin").read_bytes() == data
    transfer = transfer_of(recorder, "/a.bin")
    assert (transfer.code, transfer.bytes, transfer.direction) == (226, len(data), "upload")
    assert {e.path for e in recorder.of("transfer.progress")} == {"/a.bin"}
    assert ftp.size("a.bin") == len(data)


def test_a_new_upload_replaces_the_old_file_only_once_whole(server, root, recorder):
    old, new = payload(50_000, seed=2), payload(200_000, seed=3)
    (root / "f.bin").write_bytes(old)
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.cmd("TYPE I")
        data_sock = raw.transfer("STOR f.bin")
        data_sock.sendall(new[:100_000])
        part = root / f"f.bin{SUFFIX}"
        wait_until(lambda: part.exists() and part.stat().st_size == 100_000, what="half the upload in")
        assert (root / "f.bin").read_bytes() == old  # the old one, whole, meanwhile
        data_sock.sendall(new[100_000:])
        data_sock.close()
        assert raw.reply().startswith("226")
        noop_ok(raw)
    finally:
        raw.close()
    assert names(root) == ["f.bin"] and (root / "f.bin").read_bytes() == new
    assert transfer_of(recorder, "/f.bin").code == 226


@pytest.mark.parametrize("keep", ["yes", "no"])
def test_an_upload_cut_by_a_rule_stays_name_part(server, root, recorder, keep):
    (root / "up.bin").write_bytes(b"the old version")
    data = payload(50_000, seed=4)
    server.board.add(f"upload=426,after=1000,keep={keep}")
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.cmd("TYPE I")
        assert raw_store(raw, "up.bin", data)[1].startswith("426 ")
        noop_ok(raw)
    finally:
        raw.close()
    transfer = transfer_of(recorder, "/up.bin")
    assert (transfer.code, transfer.bytes) == (426, 1000)
    (fault,) = recorder.of("fault")
    assert fault.path == "/up.bin"
    assert (root / "up.bin").read_bytes() == b"the old version"  # never replaced by the cut one
    if keep == "yes":
        assert names(root) == ["up.bin", f"up.bin{SUFFIX}"]
        assert (root / f"up.bin{SUFFIX}").read_bytes() == data[:1000]
    else:
        assert names(root) == ["up.bin"]


def test_an_upload_reset_by_the_client_stays_name_part(server, root, recorder):
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.cmd("TYPE I")
        data_sock = raw.transfer("STOR reset.bin")
        data_sock.sendall(payload(20_000, seed=5))
        part = root / f"reset.bin{SUFFIX}"
        wait_until(lambda: part.exists() and part.stat().st_size == 20_000, what="the bytes in")
        reset_on_close(data_sock)
        data_sock.close()
        assert raw.reply().startswith("426 ")
        noop_ok(raw)
    finally:
        raw.close()
    assert names(root) == [f"reset.bin{SUFFIX}"]
    assert transfer_of(recorder, "/reset.bin").code == 426


@pytest.mark.parametrize("suffix", [SUFFIX, ""], ids=["with-suffix", "without"])
def test_uploads_stopped_by_sigterm_are_cut_in_the_journal(tmp_path, headless, suffix):
    root, journal = tmp_path / "root", tmp_path / "journal.jsonl"
    args = ["--port", "0", "--root", str(root), "--journal", str(journal)]
    server = headless(*args, *(["--partial-suffix", suffix] if suffix else []))
    uploads = []
    try:
        for n in range(3):  # three uploads under way, each with some bytes in
            raw = RawFTP(server.port)
            raw.login()
            raw.cmd("TYPE I")
            data_sock = raw.transfer(f"STOR u{n}.bin")
            data_sock.sendall(payload(30_000, seed=n))
            uploads.append((raw, data_sock))
        files = [root / f"u{n}.bin{suffix}" for n in range(3)]
        wait_until(lambda: all(f.exists() and f.stat().st_size == 30_000 for f in files),
                   what="every upload's bytes on disk")
        assert server.stop(signal.SIGTERM) == 0
    finally:
        for raw, data_sock in uploads:
            data_sock.close()
            raw.close()
    assert names(root) == sorted(f.name for f in files)  # with a suffix: none under its own name
    transfers = sorted((e["path"], e["code"], e["bytes"]) for e in read_journal(journal)
                       if e["kind"] == "transfer")
    assert transfers == [(f"/u{n}.bin", None, 30_000) for n in range(3)]  # no reply: cut


def test_appe_and_rest_stor_write_in_place(server, ftp, root, recorder):
    (root / "log.txt").write_bytes(b"hello ")
    (root / "r.bin").write_bytes(b"01234")  # what a cut upload left, resumed at 5
    assert ftp.storbinary("APPE log.txt", io.BytesIO(b"world")).startswith("226")
    assert ftp.storbinary("STOR r.bin", io.BytesIO(b"56789"), rest=5).startswith("226")
    assert names(root) == ["log.txt", "r.bin"]
    assert (root / "log.txt").read_bytes() == b"hello world"
    assert (root / "r.bin").read_bytes() == b"0123456789"
    assert [(e.path, e.offset, e.code) for e in recorder.wait("transfer", count=2)] == [
        ("/log.txt", 6, 226), ("/r.bin", 5, 226)]


def test_appe_in_progress_writes_the_file_itself(server, root):
    (root / "grow.log").write_bytes(b"x" * 1000)
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.cmd("TYPE I")
        data_sock = raw.transfer("APPE grow.log")
        data_sock.sendall(b"y" * 5000)
        wait_until(lambda: (root / "grow.log").stat().st_size == 6000, what="the appended bytes")
        assert names(root) == ["grow.log"]
        data_sock.close()
        assert raw.reply().startswith("226")
    finally:
        raw.close()


def test_stou_writes_its_unique_name_directly(server, ftp, root):
    reply = ftp.storbinary("STOU", io.BytesIO(b"unique"))
    assert reply.startswith("226")
    (name,) = names(root)
    assert not name.endswith(SUFFIX) and (root / name).read_bytes() == b"unique"


def test_a_file_whose_name_ends_in_the_suffix_is_just_a_file(server, root, recorder):
    (root / "notes.part").write_bytes(b"kept ")
    (root / "old.part").write_bytes(b"an old partial upload")
    raw = RawFTP(server.port)
    try:
        raw.login()
        raw.cmd("TYPE I")
        assert raw_store(raw, "notes.part", b"as is", verb="APPE")[1].startswith("226")
        assert raw_retrieve(raw, "RETR old.part")[1:] == (b"an old partial upload", "226 Transfer complete.")
        assert raw_store(raw, "new.part", b"new")[1].startswith("226")
        noop_ok(raw)
    finally:
        raw.close()
    assert names(root) == ["new.part", "notes.part", "old.part"]
    assert (root / "notes.part").read_bytes() == b"kept as is"
    assert (root / "new.part").read_bytes() == b"new"
    paths = [(e.path, e.direction) for e in recorder.wait("transfer", count=3)]
    assert paths == [("/notes.part", "upload"), ("/old.part", "download"), ("/new.part", "upload")]
    assert recorder.of("error") == []


def test_without_a_suffix_an_upload_is_written_under_its_name(tmp_path):
    root = tmp_path / "plain"
    with FaultServer(Settings(root=root, port=0, passive_ports=None)) as server:
        ftp = connect(server)
        try:
            ftp.storbinary("STOR a.bin", io.BytesIO(b"a"))
            with pytest.raises(ftplib.error_perm):
                ftp.size(f"a.bin{SUFFIX}")
        finally:
            ftp.close()
    assert names(root) == ["a.bin"]
