"""Completion faults seen by real command-line clients, curl and lftp, over loopback.

Each test runs the client as a subprocess against the ``server`` fixture and asserts what
the client does (exit code, message, bytes on disk) and what the server saw (the recorder's
events, the board's counters). The facts these tests pin down are the ones the README
quotes; when a client version changes its behaviour, the failing test says so.

Things worth knowing when reading the lftp tests (lftp 4.9, ``src/ftpclass.cc``):

- After a 4xx final reply to RETR lftp closes the data socket at once, dropping whatever
  it had not read yet, waits a fixed 2 seconds (``retry_timer.Set(2)``, no setting changes
  it) and retries with ``REST <bytes written>``. Whether it had read everything before the
  reply arrived is a race on loopback, so the number of attempts varies; the tests assert
  invariants (every RETR was faulted, one session, bytes correct), not a count.
- Every byte received resets lftp's retry counter, and when it knows the size (``SIZE``,
  on by default) and has all of it, it ends the transfer as a success without another RETR.
- After a failed STOR lftp asks ``SIZE``: when the remote size matches and retries are
  left, it reports success. Its retry counter is reset once more than 128 KiB of an
  upload has left its socket buffer (timing), so uploads here stay under 128 KiB.
- lftp's messages do not name the reply code ("max-retries exceeded"); the protocol
  trace (``debug -o FILE``) does, so the tests read the code there.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from clients import (
    assert_one_final_reply_per_command, commands, curl, curl_error, lftp, settle, url,
)
from conftest import PASSWORD, USER, file_sha256, payload, sha256

PICKER = [425, 426, 450, 451, 452]


def serve_file(root: Path, name: str, size: int, seed: int) -> bytes:
    data = payload(size, seed=seed)
    (root / name).write_bytes(data)
    return data


# --- curl


@pytest.mark.parametrize("code", PICKER)
def test_curl_download_fault_exits_18_with_every_byte(server, root, work, recorder, code):
    data = serve_file(root, "down.bin", 300_000, seed=code)
    rule = server.board.add(f"download={code}")

    proc = curl(work, "-o", "got.bin", url(server, "down.bin"))

    assert proc.returncode == 18, proc
    assert curl_error(code) in proc.stderr
    assert file_sha256(work / "got.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    (fault,) = recorder.wait("fault")
    assert (fault.point, fault.code, fault.command, fault.path) == (
        "download", code, "RETR", "/down.bin")
    settle(recorder)
    (transfer,) = recorder.of("transfer", direction="download")
    assert (transfer.code, transfer.bytes) == (code, len(data))


def test_curl_download_succeeds_with_nothing_armed_and_after_disarming(
    server, root, work, recorder
):
    data = serve_file(root, "down.bin", 300_000, seed=7)

    clean = curl(work, "-o", "before.bin", url(server, "down.bin"))
    assert clean.returncode == 0, clean
    assert clean.stderr == ""
    assert file_sha256(work / "before.bin") == sha256(data)

    rule = server.board.add("download=426")
    faulted = curl(work, "-o", "during.bin", url(server, "down.bin"))
    assert faulted.returncode == 18, faulted
    assert curl_error(426) in faulted.stderr

    server.board.update(rule.id, enabled=False)
    after = curl(work, "-o", "after.bin", url(server, "down.bin"))
    assert after.returncode == 0, after
    assert after.stderr == ""
    assert file_sha256(work / "after.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    settle(recorder)
    assert [t.code for t in recorder.of("transfer", direction="download")] == [226, 426, 226]


@pytest.mark.parametrize("code", PICKER)
def test_curl_upload_fault_exits_18_and_the_bytes_stay(server, root, work, recorder, code):
    data = payload(200_000, seed=code)
    (work / "up.bin").write_bytes(data)
    rule = server.board.add(f"upload={code}")

    proc = curl(work, "-T", "up.bin", url(server, "up.bin"))

    assert proc.returncode == 18, proc  # CURLE_PARTIAL_FILE, as for a download
    assert curl_error(code) in proc.stderr
    assert file_sha256(root / "up.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    (fault,) = recorder.wait("fault")
    assert (fault.point, fault.code, fault.command, fault.path) == (
        "upload", code, "STOR", "/up.bin")

    server.board.disarm_all()
    again = payload(150_000, seed=code + 1000)
    (work / "again.bin").write_bytes(again)
    proc = curl(work, "-T", "again.bin", url(server, "again.bin"))
    assert proc.returncode == 0, proc
    assert proc.stderr == ""
    assert file_sha256(root / "again.bin") == sha256(again)
    assert server.board.fired(rule.id) == 1
    settle(recorder)
    assert [t.code for t in recorder.of("transfer", direction="upload")] == [code, 226]


@pytest.mark.parametrize("direction", ["download", "upload"])
def test_curl_reuses_the_connection_after_a_fault_and_stays_in_sync(
    server, root, work, recorder, direction
):
    """One curl run: a faulted transfer, then (--next) a listing on the same connection.
    A stray 226 after the fault would be read as the answer to curl's next EPSV."""
    data = serve_file(root, "down.bin", 300_000, seed=11)
    (work / "up.bin").write_bytes(data)
    rule = server.board.add(f"{direction}=451")
    first = (["-T", "up.bin", url(server, "up.bin")] if direction == "upload"
             else ["-o", "got.bin", url(server, "down.bin")])

    proc = curl(work, *first, "--next", "-q", "-sS", "-u", f"{USER}:{PASSWORD}",
                "-o", "list.txt", url(server))

    assert proc.returncode == 0, proc  # curl's exit code is the last transfer's
    assert curl_error(451) in proc.stderr
    listing = (work / "list.txt").read_text()
    assert "down.bin" in listing
    if direction == "upload":
        assert "up.bin" in listing
        assert file_sha256(root / "up.bin") == sha256(data)
    else:
        assert file_sha256(work / "got.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    settle(recorder)
    assert len(recorder.of("session.open")) == 1  # curl kept the connection
    assert [e.command for e in recorder.of("command")][-4:] == ["EPSV", "TYPE", "LIST", "QUIT"]
    assert [t.code for t in recorder.of("transfer") if t.command] == [451, 226]
    assert_one_final_reply_per_command(recorder)


def test_curl_active_mode_download_fault(server, root, work, recorder):
    """Active mode (--ftp-port): pyftpdlib connects to curl at EPRT time and starts sending
    as soon as RETR arrives, while curl only accept()s after the 125. When the fault reply
    is already there by then, curl takes it as a refused data connection: exit 10
    (CURLE_FTP_ACCEPT_FAILED) and nothing written. Otherwise exit 18 with every byte.
    Which one happens is timing (about 1 run in 10 here), so both are accepted, each
    with its own consequences."""
    data = serve_file(root, "down.bin", 300_000, seed=12)
    rule = server.board.add("download=450")

    proc = curl(work, "--ftp-port", "127.0.0.1", "-o", "got.bin", url(server, "down.bin"))

    # curl 7.88's message here may be a stale one from setting up the active connection
    # ("sa_addr inet_ntop() failed ...") rather than naming the reply: assert the exit only.
    assert proc.returncode in (10, 18), proc
    assert f"curl: ({proc.returncode}) " in proc.stderr
    if proc.returncode == 18:
        assert file_sha256(work / "got.bin") == sha256(data)
    else:
        got = work / "got.bin"
        assert not got.exists() or got.stat().st_size == 0
    assert server.board.fired(rule.id) == 1
    settle(recorder)
    assert [t.code for t in recorder.of("transfer", direction="download")] == [450]
    assert recorder.of("command", command="EPRT") or recorder.of("command", command="PORT")
    assert not recorder.of("command", command="EPSV") and not recorder.of("command", command="PASV")
    assert_one_final_reply_per_command(recorder)


# --- lftp


@pytest.mark.parametrize("code", PICKER)
def test_lftp_put_fault_fails_when_retries_run_out(server, root, work, recorder, code):
    # Under 128 KiB on purpose: lftp resets its retry counter once more than 128 KiB of
    # an upload has left its socket buffer, and whether that happened before the fault is
    # timing. Below that size the outcome with max-retries 1 is always the same.
    data = payload(100_000, seed=code)
    (work / "up.bin").write_bytes(data)
    rule = server.board.add(f"upload={code}")

    run = lftp(server, work, "put up.bin -o up.bin", retries=1)

    assert run.returncode == 1, run
    # lftp's own message does not name the reply; its protocol trace does
    assert "put: up.bin: Fatal error: max-retries exceeded" in run.stderr
    assert re.search(rf"^<--- {code} ", run.trace, re.M), run.trace
    assert file_sha256(root / "up.bin") == sha256(data)
    assert server.board.fired(rule.id) == 1
    (fault,) = recorder.wait("fault")
    assert (fault.point, fault.code, fault.command, fault.path) == (
        "upload", code, "STOR", "/up.bin")
    settle(recorder)
    assert commands(recorder, "STOR") == ["up.bin"]
    assert commands(recorder, "SIZE")[-1] == "up.bin"  # it checked what arrived
    # after a 426 to STOR lftp drops the connection and logs in again to ask SIZE;
    # after any other 4xx it asks on the same connection
    assert len(recorder.of("session.open")) == (2 if code == 426 else 1)
    assert_one_final_reply_per_command(recorder)


def test_lftp_put_succeeds_with_nothing_armed(server, root, work, recorder):
    data = payload(100_000, seed=5)
    (work / "up.bin").write_bytes(data)
    rule = server.board.add("upload=451")
    server.board.update(rule.id, enabled=False)

    run = lftp(server, work, "put up.bin -o up.bin", retries=1)

    assert run.returncode == 0, run
    assert run.stderr == ""
    assert file_sha256(root / "up.bin") == sha256(data)
    assert server.board.fired(rule.id) == 0
    settle(recorder)
    assert [t.code for t in recorder.of("transfer", direction="upload")] == [226]


@pytest.mark.parametrize("code", [426, 451])
def test_lftp_put_with_retries_left_trusts_the_remote_size(server, root, work, recorder, code):
    """With retries left, lftp asks SIZE after the fault, finds every byte there and
    reports success: the fault is invisible to a script that checks lftp's exit code.
    (Rarely lftp first sends the whole file again, which is faulted too; then it asks.)"""
    data = payload(100_000, seed=code)
    (work / "up.bin").write_bytes(data)
    rule = server.board.add(f"upload={code}")

    run = lftp(server, work, "put up.bin -o up.bin", retries=3)

    assert run.returncode == 0, run
    assert run.stderr == ""
    assert re.search(rf"^<--- {code} ", run.trace, re.M), run.trace
    assert file_sha256(root / "up.bin") == sha256(data)
    settle(recorder)
    stors = commands(recorder, "STOR")
    assert stors and set(stors) == {"up.bin"}  # normally one: lftp does not upload again
    assert server.board.fired(rule.id) == len(stors)
    assert commands(recorder, "SIZE")[-1] == "up.bin"
    assert_one_final_reply_per_command(recorder)


def test_lftp_get_fault_is_retried_then_taken_as_complete(server, root, work, recorder):
    """Default lftp (SIZE known): it retries after 2 s with REST and, once it holds as many
    bytes as SIZE said, ends with success. The file is right; the exit code is 0.
    max-retries 6: an attempt whose reply beat its data (no byte read) counts as a retry."""
    data = serve_file(root, "down.bin", 20_000, seed=21)
    rule = server.board.add("download=451")

    run = lftp(server, work, "get down.bin -o got.bin", retries=6)

    assert run.returncode == 0, run
    assert run.stderr == ""
    assert re.search(r"^<--- 451 ", run.trace, re.M), run.trace
    assert file_sha256(work / "got.bin") == sha256(data)
    assert run.elapsed >= 2.0  # lftp's fixed pause before acting on a failed RETR
    settle(recorder)
    retrs = commands(recorder, "RETR")
    assert retrs and set(retrs) == {"down.bin"}
    assert server.board.fired(rule.id) == len(retrs)  # every attempt was faulted
    assert len(recorder.of("fault", point="download")) == len(retrs)
    assert len(recorder.of("session.open")) == 1  # retried on the same connection
    assert_one_final_reply_per_command(recorder)

    server.board.update(rule.id, enabled=False)
    fired = server.board.fired(rule.id)
    run = lftp(server, work, "get down.bin -o again.bin", retries=1)
    assert run.returncode == 0, run
    assert run.stderr == ""
    assert file_sha256(work / "again.bin") == sha256(data)
    assert server.board.fired(rule.id) == fired


def test_lftp_get_without_size_gives_up_when_retries_run_out(server, root, work, recorder):
    """Without SIZE (ftp:use-size off) lftp cannot tell it has everything: it retries with
    REST until an attempt brings no new byte and max-retries is used up, then fails.
    Usually that is RETR (all bytes), 2 s, REST <size> + RETR (none), fail. When the first
    fault reply beats the data (no byte read) it fails at once and removes the empty file."""
    data = serve_file(root, "down.bin", 20_000, seed=22)
    rule = server.board.add("download=426")

    run = lftp(server, work, "get down.bin -o got.bin", retries=1, settings="set ftp:use-size no")

    assert run.returncode == 1, run
    assert "get: down.bin: Fatal error: max-retries exceeded" in run.stderr
    assert re.search(r"^<--- 426 ", run.trace, re.M), run.trace
    settle(recorder)
    retrs = commands(recorder, "RETR")
    assert retrs and set(retrs) == {"down.bin"}
    assert server.board.fired(rule.id) == len(retrs)  # every attempt was faulted
    assert len(recorder.of("session.open")) == 1
    # Any byte read resets lftp's retry count, so the attempt that used it up read none.
    got = work / "got.bin"
    if len(retrs) == 1:
        assert not got.exists()
    else:
        kept = got.read_bytes()
        assert kept and data.startswith(kept)  # a true prefix: normally all of it
        assert commands(recorder, "REST")[-1] == str(len(kept))
    assert_one_final_reply_per_command(recorder)

    server.board.disarm_all()
    fired = server.board.fired(rule.id)
    run = lftp(server, work, "get down.bin -o got.bin", retries=1, settings="set ftp:use-size no")
    assert run.returncode == 0, run
    assert run.stderr == ""
    assert file_sha256(work / "got.bin") == sha256(data)
    assert server.board.fired(rule.id) == fired


def test_lftp_session_stays_in_sync_after_faults(server, root, work, recorder):
    """One lftp session: a faulted put, NOOP, a faulted get, NOOP, ls. lftp must see the
    answer to each of its commands, not a reply left over from a fault."""
    down = serve_file(root, "down.bin", 20_000, seed=31)
    up = payload(100_000, seed=32)
    (work / "up.bin").write_bytes(up)
    upload = server.board.add("upload=452")
    download = server.board.add("download=450")

    run = lftp(server, work, "; ".join([
        "put up.bin -o up.bin || echo put-failed",
        "quote NOOP",
        "set net:max-retries 6",  # see test_lftp_get_fault_is_retried_then_taken_as_complete
        "get down.bin -o got.bin",
        "quote NOOP",
        "cls -1",
    ]))

    assert run.returncode == 0, run
    lines = run.stdout.splitlines()
    assert lines[0] == "put-failed"
    noops = [i for i, line in enumerate(lines) if line.startswith("200 ")]
    assert len(noops) == 2, lines
    assert sorted(lines[noops[1] + 1:]) == ["down.bin", "up.bin"]
    assert file_sha256(root / "up.bin") == sha256(up)
    assert file_sha256(work / "got.bin") == sha256(down)
    settle(recorder)
    assert server.board.fired(upload.id) == len(commands(recorder, "STOR")) == 1
    assert server.board.fired(download.id) == len(commands(recorder, "RETR")) >= 1
    assert len(recorder.of("session.open")) == 1
    assert [e.command for e in recorder.of("command")][-1] == "QUIT"
    assert_one_final_reply_per_command(recorder)
