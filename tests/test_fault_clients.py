"""Real clients (curl 7.88, lftp 4.9, ftplib) against the fault model's rules: a one-time
fault that a retry gets past, a download cut after N bytes, a resume with REST until the
file is whole, a seeded chance= that repeats itself, a start fault that creates nothing.

What the clients did here (loopback, Debian 12 builds), for the README:

- ``curl --retry 2 -T`` after ``upload=451,times=1``: prints
  ``curl: (18) server did not report OK, got 451``, waits 1 s (``--retry-delay 0``, the
  default, means curl's own backoff starting at 1 s; it cannot go lower), sends STOR again
  on the same connection and exits 0. A 4xx instead of the 150 (``upload-start=451``) is
  retried the same way (``curl: (25) Failed FTP upload: 451``, then exit 0). A 5xx is not
  retried: ``upload=553`` exits 18 after one STOR.
- ``download=426,after=N``: curl asks SIZE first, so when the data connection closes early
  it stops there: exit 18, ``curl: (18) transfer closed with R bytes remaining to read``,
  without reading the 426. With ``--ignore-content-length`` (no SIZE) it reads to the end of
  the data, then the 426: exit 18, ``curl: (18) server did not report OK, got 426``. Either
  way exactly the first N bytes are on disk (curl creates no file when N is 0). ``--retry``
  does not retry the cut (``--retry-all-errors`` does, from byte 0 again, even with ``-C -``).
- lftp resumes a cut download on its own: after each 426 it waits 2 s and sends
  ``REST <bytes it has>`` + ``RETR`` on the same connection, until the file is whole; each
  byte it receives resets its retry counter, so ``net:max-retries 3`` is enough.
- ``upload-start=CODE``: curl exits 25, ``curl: (25) Failed FTP upload: CODE``; no file.

The payloads come from ``conftest.payload`` (seeded random bytes, no period), so a copy
shifted by a REST offset or truncated shows in its hash.
"""

from __future__ import annotations

import ftplib
import io
import re
from pathlib import Path

import pytest
from clients import assert_one_final_reply_per_command, commands, curl, lftp, settle, url
from conftest import Recorder, connect, file_sha256, payload, sha256

from tui.engine.board import FaultBoard
from tui.engine.ftp.control import FaultFTPHandler
from tui.engine.server import FaultServer
from tui.engine.settings import Settings


def transfers(recorder: Recorder, direction: str) -> list[tuple[int, int]]:
    """(final code, bytes) of each transfer in that direction, in order."""
    return [(t.code, t.bytes) for t in recorder.of("transfer", direction=direction)]


def serve(root: Path, name: str, size: int, seed: int) -> bytes:
    data = payload(size, seed)
    (root / name).write_bytes(data)
    return data


# --- curl: a retry gets past a one-time fault


@pytest.mark.parametrize(("spec", "message", "exit_code", "stors", "uploads"), [
    # a completion fault: the bytes went in, curl sends them again
    ("upload=451,times=1", "curl: (18) server did not report OK, got 451", 0, 2, [451, 226]),
    # a start fault: nothing moved the first time
    ("upload-start=451,times=1", "curl: (25) Failed FTP upload: 451", 0, 2, [226]),
    # 5xx is permanent: no retry
    ("upload=553,times=1", "curl: (18) server did not report OK, got 553", 18, 1, [553]),
], ids=["upload-451", "upload-start-451", "upload-553-not-retried"])
def test_curl_retry_gets_past_a_one_time_upload_fault(
    server, root, work, recorder, spec, message, exit_code, stors, uploads
):
    data = payload(200_000, seed=1)
    (work / "up.bin").write_bytes(data)
    rule = server.board.add(spec)

    proc = curl(work, "--retry", "2", "--retry-delay", "0", "-T", "up.bin", url(server, "up.bin"))

    assert proc.returncode == exit_code, proc
    assert proc.stderr == message + "\n"  # the failed attempt is reported even when a retry wins
    assert file_sha256(root / "up.bin") == sha256(data)  # whole, whichever attempt wrote it
    assert server.board.fired(rule.id) == 1
    assert not server.board.get(rule.id).enabled  # times=1: it disarmed itself
    settle(recorder)
    assert commands(recorder, "STOR") == ["up.bin"] * stors
    (fault,) = recorder.of("fault")
    assert (fault.rule, fault.command, fault.path) == (rule.id, "STOR", "/up.bin")
    assert [code for code, _ in transfers(recorder, "upload")] == uploads
    assert all(size == len(data) for _, size in transfers(recorder, "upload"))
    assert len(recorder.of("session.open")) == 1  # the retry reused the connection
    assert_one_final_reply_per_command(recorder)


# --- curl: a download cut after N bytes


def cut_transfer(recorder: Recorder, sized: bool):
    """The transfer event of a cut download. When curl knows the size it hangs up (no QUIT)
    as soon as the data ends early: the server's 426 then goes to a closed connection, or
    is not sent at all when the session's end is handled first (code 0, no reply). And the
    session's close event may come before the transfer's: wait for the transfer itself."""
    (transfer,) = recorder.wait("transfer", direction="download")
    assert transfer.code in ((426, 0) if sized else (426,)), transfer
    return transfer


def assert_sendfile_in_use(recorder: Recorder) -> None:
    """The download ran in binary mode, where pyftpdlib sends with sendfile()."""
    assert FaultFTPHandler.use_sendfile
    assert commands(recorder, "TYPE")[-1] == "I"


@pytest.mark.parametrize("after", [0, 1000, 65_536, 100_001])
@pytest.mark.parametrize("sized", [True, False], ids=["size", "ignore-content-length"])
def test_curl_download_cut_leaves_exactly_the_first_n_bytes(
    server, root, work, recorder, after, sized
):
    data = serve(root, "down.bin", 300_000, seed=after)
    rule = server.board.add(f"download=426,after={after}")

    extra = [] if sized else ["--ignore-content-length"]
    proc = curl(work, *extra, "-o", "got.bin", url(server, "down.bin"))

    assert proc.returncode == 18, proc  # CURLE_PARTIAL_FILE
    if sized:  # curl knows the size (SIZE) and stops at the early end of the data
        assert proc.stderr == (
            f"curl: (18) transfer closed with {len(data) - after} bytes remaining to read\n")
    else:  # it reads the data to its end, then the reply
        assert proc.stderr == "curl: (18) server did not report OK, got 426\n"
    got = work / "got.bin"
    assert (got.read_bytes() if got.exists() else b"") == data[:after]
    assert server.board.fired(rule.id) == 1
    assert cut_transfer(recorder, sized).bytes == after
    settle(recorder)
    (fault,) = recorder.of("fault")
    assert (fault.rule, fault.code, fault.action) == (rule.id, 426, f"cut after {after} B")
    assert_sendfile_in_use(recorder)
    if not sized:  # curl read the 426 and said QUIT: the session ended in step
        assert_one_final_reply_per_command(recorder)


def test_curl_resumed_download_is_cut_n_bytes_past_the_rest_offset(
    server, root, work, recorder
):
    data = serve(root, "down.bin", 300_000, seed=5)
    offset, after = 100_003, 50_000
    rule = server.board.add(f"download=426,after={after}")

    proc = curl(work, "-C", str(offset), "-o", "got.bin", url(server, "down.bin"))

    assert proc.returncode == 18, proc
    remaining = len(data) - offset - after
    assert proc.stderr == f"curl: (18) transfer closed with {remaining} bytes remaining to read\n"
    assert (work / "got.bin").read_bytes() == data[offset:offset + after]
    assert server.board.fired(rule.id) == 1
    assert cut_transfer(recorder, sized=True).bytes == after
    settle(recorder)
    assert commands(recorder, "REST") == [str(offset)]


@pytest.mark.parametrize(("size", "offset"), [
    (100_000, 0),  # exactly after= bytes
    (99_999, 0),  # fewer
    (300_000, 200_000),  # exactly after= bytes past the REST offset
], ids=["equal", "fewer", "equal-past-rest"])
def test_curl_download_of_n_bytes_or_fewer_is_not_cut(
    server, root, work, recorder, size, offset
):
    data = serve(root, "down.bin", size, seed=size)
    rule = server.board.add("download=426,after=100000")

    resume = ["-C", str(offset)] if offset else []
    proc = curl(work, *resume, "-o", "got.bin", url(server, "down.bin"))

    assert proc.returncode == 0, proc
    assert proc.stderr == ""
    assert (work / "got.bin").read_bytes() == data[offset:]
    assert server.board.fired(rule.id) == 0
    assert server.board.get(rule.id).enabled
    settle(recorder)
    assert recorder.of("fault") == []
    assert transfers(recorder, "download") == [(226, size - offset)]
    assert_sendfile_in_use(recorder)


# --- lftp: resumes with REST until the file is whole


def test_lftp_resumes_a_cut_download_with_rest_until_it_is_whole(server, root, work, recorder):
    after = 100_000
    data = serve(root, "down.bin", 3 * after, seed=3)
    rule = server.board.add(f"download=426,after={after}")

    # every byte lftp receives resets its retry counter: 3 retries are plenty
    run = lftp(server, work, "get down.bin -o got.bin", retries=3)

    assert run.returncode == 0, run
    assert run.stderr == ""
    assert file_sha256(work / "got.bin") == sha256(data)
    assert len(re.findall(r"^<--- 426 ", run.trace, re.M)) == 2, run.trace
    assert run.elapsed >= 4.0  # lftp's fixed 2 s pause after each failed RETR
    settle(recorder)
    assert commands(recorder, "RETR") == ["down.bin"] * 3
    assert commands(recorder, "REST") == [str(after), str(2 * after)]  # increasing offsets
    assert server.board.fired(rule.id) == 2  # each cut counted
    faults = recorder.of("fault")
    assert [(f.rule, f.action) for f in faults] == [(rule.id, f"cut after {after} B")] * 2
    # the third attempt starts at 2N: N bytes to go, not more than after=, so no cut
    assert transfers(recorder, "download") == [(426, after), (426, after), (226, after)]
    assert len(recorder.of("session.open")) == 1  # all on one connection
    assert_one_final_reply_per_command(recorder)


# --- chance= with a board seed repeats itself


def upload_pattern(root: Path, seed: int, specs: list[str], downloads: bool = False) -> str:
    """A fresh server whose board has ``seed`` and ``specs``; 20 uploads with ftplib, each
    'F' (451, the chance rule fired) or '.' (226). With ``downloads``, a RETR after each
    upload exercises the other rules in between."""
    root.mkdir()
    (root / "down.bin").write_bytes(b"down")
    board = FaultBoard(seed=seed)
    rules = [board.add(spec) for spec in specs]
    (chance,) = [r for r in rules if r.point == "upload"]
    pattern = []
    with FaultServer(Settings(root=root, port=0, passive_ports=None), board=board) as server:
        ftp = connect(server)
        for i in range(20):
            try:
                ftp.storbinary(f"STOR up{i}.bin", io.BytesIO(b"x" * 100))
                pattern.append(".")
            except ftplib.error_temp as err:
                assert str(err).startswith("451 "), err
                pattern.append("F")
            if downloads:
                try:
                    ftp.retrbinary("RETR down.bin", lambda _: None)
                except ftplib.error_temp as err:
                    assert str(err).startswith("450 "), err
        ftp.quit()
        assert board.fired(chance.id) == pattern.count("F")
        assert board.stats(chance.id).matched == 20
    return "".join(pattern)


CHANCE = "upload=451,chance=0.5"
OTHER = "download=450,chance=0.5"


def test_seeded_chance_repeats_its_pattern(tmp_path):
    first = upload_pattern(tmp_path / "one", 7, [CHANCE])
    again = upload_pattern(tmp_path / "two", 7, [CHANCE])
    other_seed = upload_pattern(tmp_path / "three", 8, [CHANCE])

    assert first == again
    assert "F" in first and "." in first  # a real mix, not all or nothing
    assert other_seed != first


def test_seeded_chance_ignores_a_rule_added_after_it(tmp_path):
    alone = upload_pattern(tmp_path / "one", 7, [CHANCE])
    # another chance rule, added later and drawing from its own stream in between
    with_other = upload_pattern(tmp_path / "two", 7, [CHANCE, OTHER], downloads=True)

    assert with_other == alone


def test_seeded_chance_ignores_a_rule_added_before_it(tmp_path):
    """(The stream used to be seeded with the rule's id: a rule added first made it r2.)"""
    alone = upload_pattern(tmp_path / "one", 7, [CHANCE])
    with_other = upload_pattern(tmp_path / "two", 7, [OTHER, CHANCE])

    assert with_other == alone


# --- curl: a start fault creates nothing


@pytest.mark.parametrize("code", [425, 450, 452, 553])
@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "existing-file"])
def test_curl_upload_start_fault_leaves_the_root_untouched(
    server, root, work, recorder, code, existing
):
    old = serve(root, "up.bin", 1_000, seed=9) if existing else None
    (work / "up.bin").write_bytes(payload(100_000, seed=code))
    rule = server.board.add(f"upload-start={code}")

    proc = curl(work, "-T", "up.bin", url(server, "up.bin"))

    assert proc.returncode == 25, proc  # CURLE_UPLOAD_FAILED
    assert proc.stderr == f"curl: (25) Failed FTP upload: {code}\n"
    if existing:
        assert (root / "up.bin").read_bytes() == old
    else:
        assert not (root / "up.bin").exists()
    assert server.board.fired(rule.id) == 1
    settle(recorder)
    (fault,) = recorder.of("fault")
    assert (fault.point, fault.code, fault.command, fault.path) == (
        "upload-start", code, "STOR", "/up.bin")
    assert commands(recorder, "STOR") == ["up.bin"]
    assert transfers(recorder, "upload") == []  # no data moved
    assert_one_final_reply_per_command(recorder)
