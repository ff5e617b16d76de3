"""lftp (4.9, Debian 12 builds, loopback) against the fault model's rules: what a put and a
get do after a completion fault with retries left or used up, with and without SIZE, that
one session stays in step across faults, and how lftp resumes a cut download with REST.

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
- lftp resumes a cut download on its own: after each 426 it waits 2 s and sends
  ``REST <bytes it has>`` + ``RETR`` on the same connection, until the file is whole; each
  byte it receives resets its retry counter, so ``net:max-retries 3`` is enough.
"""

from __future__ import annotations

import re

import pytest

from tests.support.clients import (
    assert_one_final_reply_per_command, commands, lftp, settle, transfers,
)
from tests.support.servers import file_sha256, payload, serve_file, sha256


PICKER = [425, 426, 450, 451, 452]


# --- a completion fault


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


# --- a cut download, resumed with REST until it is whole


def test_lftp_resumes_a_cut_download_with_rest_until_it_is_whole(server, root, work, recorder):
    after = 100_000
    data = serve_file(root, "down.bin", 3 * after, seed=3)
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
