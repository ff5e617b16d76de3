"""The client report against real clients over loopback: for each, what the client saw
(its exit status, the bytes on disk) and what the report says it did (reaction, outcome,
numbers, sentence). Every run has a journal, and ``final_report`` checks that
``ftpfault report --format json`` reads the same report from it as the live server gave.

The first half is the issue's "How it is checked". The second half pins what real clients
showed the report reading wrongly (each with a synthetic twin in tests/engine/test_report.py):

- the server reports a transfer's bytes just after its final reply (curl, download=451);
- tnftp asks MDTM after every download, whole or cut short: MDTM is no check;
- inetutils ftp answers a failed PASV with LPSV: a fall-back;
- lftp, timed out on a stall, logs in again and leaves: that is not going on;
- a drop or a reset is the server hanging up (wget, curl), and a reset is no stall;
- a close without QUIT after no answer may be a timeout or a kill: the sentence says so.

Last, scripts/client_matrix.py (the README's table of these verdicts) still runs.

Versions here: curl 7.88, lftp 4.9, wget 1.21, tnftp 20210827, inetutils ftp 2.4 (Debian 12).
"""

from __future__ import annotations

import ftplib
import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.clients import (
    binary, commands, curl, final_report, inetutils_ftp, lftp, login_url, settle, tnftp, url, wget,
)
from tests.support.servers import connect, file_sha256, payload, serve_file, sha256, wait_until
from tui.engine.report import (
    ACCEPTED, FELL_BACK, GAVE_UP, MOVED_ON, NOT_RECOVERED, PENDING, RECONNECTED, RECOVERED,
    RESUMED, RETRIED, VERIFIED,
)
from tui.engine.settings import DEFAULT_REPORT_WINDOW, Settings

WHO = "testuser@127.0.0.1"
MATRIX = Path(__file__).resolve().parents[2] / "scripts" / "client_matrix.py"


@pytest.fixture
def window() -> float:
    """The report window; a test that needs it to close live parametrizes it."""
    return DEFAULT_REPORT_WINDOW


@pytest.fixture
def settings(root, tmp_path, window) -> Settings:
    """The ``server`` fixture's settings, with a journal to read back offline."""
    return Settings(root=root, port=0, passive_ports=None, journal=tmp_path / "run.jsonl",
                    report_window=window)


def only(report):
    assert len(report.accounts) == 1, report.accounts
    return report.accounts[0]


# --- the checks


def test_curl_retry_after_a_one_time_upload_fault_retried_and_recovered(
    server, recorder, settings, root, work
):
    data = payload(200_000, seed=1)
    (work / "up.bin").write_bytes(data)
    server.arm("upload=451,times=1")

    proc = curl(work, "--retry", "2", "-T", "up.bin", url(server, "up.bin"))

    assert proc.returncode == 0, proc
    assert file_sha256(root / "up.bin") == sha256(data)
    a = only(final_report(server, recorder, settings))
    assert (a.point, a.command, a.path, a.code) == ("upload", "STOR", "/up.bin", 451)
    assert (a.reaction, a.outcome, a.attempts) == (RETRIED, RECOVERED, 1)
    assert 1.0 <= a.first_attempt_after < 5.0  # curl waits 1 s first (more on a loaded machine)
    assert a.backoff == [a.first_attempt_after]
    assert a.bytes_again == len(data)
    assert re.fullmatch(rf"{WHO} retried STOR /up\.bin on the same connection after 1\.\d\d s "
                        r"and recovered( after 1\.\d\d s)? \(1 attempt\)\.", a.sentence), a.sentence


@pytest.mark.parametrize("window", [2.0])
def test_curl_without_retries_gave_up_and_its_window_closes_live(
    server, recorder, settings, root, work, window
):
    data = payload(200_000, seed=2)
    (work / "up.bin").write_bytes(data)
    server.arm("upload=451,times=1")

    proc = curl(work, "-T", "up.bin", url(server, "up.bin"))

    assert proc.returncode == 18, proc
    assert file_sha256(root / "up.bin") == sha256(data)  # the bytes went in all the same
    settle(recorder)
    early = server.report().accounts[0]
    if time.time() < early.time + window:  # (a slow machine may already be past it)
        assert (early.reaction, early.outcome, early.settled) == (GAVE_UP, PENDING, False)
    late = wait_until(lambda: (a := server.report().accounts[0]).settled and a,
                      what="the report window to close")
    assert (late.reaction, late.outcome) == (GAVE_UP, NOT_RECOVERED)
    assert late.sentence == (f"{WHO} ended the session without trying STOR /up.bin again (the bytes "
                             "it sent are on the server: the journal cannot tell whether the client "
                             "reported a failure).")
    assert final_report(server, recorder, settings).accounts[0] == late


def test_lftp_get_of_a_cut_download_resumed_and_recovered(server, recorder, settings, root, work):
    data = serve_file(root, "down.bin", 300_000, seed=3)
    server.arm("download=426,after=100000")

    run = lftp(server, work, "get down.bin -o got.bin", retries=3)

    assert run.returncode == 0, run
    assert file_sha256(work / "got.bin") == sha256(data)
    first, second = final_report(server, recorder, settings).accounts  # the third part was not cut
    assert (first.reaction, first.outcome, first.attempts) == (RESUMED, RECOVERED, 2)
    assert first.rest_offsets == [100_000, 200_000]
    assert first.bytes_again == 200_000
    assert all(gap >= 2.0 for gap in first.backoff)  # lftp's fixed 2 s pause after a failed RETR
    assert (second.reaction, second.outcome, second.rest_offsets) == (RESUMED, RECOVERED, [200_000])
    assert ("resumed RETR /down.bin on the same connection from 100000, 200000 after 2."
            in first.sentence)


def test_lftp_put_with_default_settings_verified_and_accepted(
    server, recorder, settings, root, work
):
    """lftp asks SIZE, sees every byte and exits 0: it hides the 451 from its caller."""
    data = payload(200_000, seed=4)
    (work / "up.bin").write_bytes(data)
    server.arm("upload=451")

    run = lftp(server, work, "put up.bin -o up.bin", retries=1000)  # lftp's own default

    assert (run.returncode, run.stderr) == (0, ""), run
    assert file_sha256(root / "up.bin") == sha256(data)
    report = final_report(server, recorder, settings)
    # Rarely lftp sends the whole file again first (faulted too); then it asks
    assert len(report.accounts) == len(commands(recorder, "STOR"))
    a = report.accounts[-1]
    assert (a.reaction, a.outcome, a.attempts) == (VERIFIED, ACCEPTED, 0)
    assert a.sentence == f"{WHO} asked SIZE /up.bin, saw 200000 and went on: the 451 was hidden."


def store_with_reconnects(server, name: str, data: bytes, tries: int = 3) -> int:
    """What many scripts do with ftplib: after a temporary error, hang up, connect again and
    send the file again. Returns the attempts it took."""
    for attempt in range(1, tries + 1):
        ftp = connect(server)
        try:
            ftp.storbinary(f"STOR {name}", io.BytesIO(data))
            ftp.quit()
            return attempt
        except ftplib.error_temp:
            ftp.close()
    raise AssertionError(f"no upload in {tries} attempts")


def test_an_ftplib_client_that_reconnects_and_retries_reconnected_and_recovered(
    server, recorder, settings, root
):
    data = payload(200_000, seed=5)
    server.arm("upload=426,times=1")

    assert store_with_reconnects(server, "up.bin", data) == 2

    assert file_sha256(root / "up.bin") == sha256(data)
    a = only(final_report(server, recorder, settings))
    assert (a.session, a.reaction, a.outcome, a.attempts) == (1, RECONNECTED, RECOVERED, 1)
    assert a.bytes_again == len(data)
    assert a.sentence.startswith(f"{WHO} reconnected and retried STOR /up.bin after 0.")


def test_wget_continue_with_tries_resumed_a_cut_download(server, recorder, settings, root, work):
    data = serve_file(root, "down.bin", 300_000, seed=6)
    server.arm("download=426,after=100000")

    proc = wget(work, "-c", "--tries=3", "--waitretry=1", "-O", "got.bin",
                login_url(server, "down.bin"))

    assert proc.returncode == 0, proc
    assert file_sha256(work / "got.bin") == sha256(data)
    first, second = final_report(server, recorder, settings).accounts
    assert (first.reaction, first.outcome) == (RESUMED, RECOVERED)
    assert first.rest_offsets == [100_000, 200_000]
    assert (second.reaction, second.outcome, second.rest_offsets) == (RESUMED, RECOVERED, [200_000])
    assert commands(recorder, "REST") == ["100000", "200000"]


def test_curl_against_a_refused_epsv_fell_back_and_recovered(server, recorder, settings, root, work):
    data = serve_file(root, "down.bin", 300_000, seed=7)
    server.arm("cmd:EPSV=500")

    proc = curl(work, "-o", "got.bin", url(server, "down.bin"))

    assert (proc.returncode, proc.stderr) == (0, ""), proc
    assert file_sha256(work / "got.bin") == sha256(data)
    a = only(final_report(server, recorder, settings))
    assert (a.point, a.command, a.code) == ("cmd:EPSV", "EPSV", 500)
    assert (a.reaction, a.outcome, a.attempts) == (FELL_BACK, RECOVERED, 1)
    assert a.sentence.startswith(f"{WHO} fell back from EPSV to PASV on the same connection after ")


# --- what real clients showed the report reading wrongly


def test_curl_after_a_download_fault_every_byte_sent_is_said(server, recorder, settings, root, work):
    data = serve_file(root, "down.bin", 300_000, seed=8)
    server.arm("download=451")

    proc = curl(work, "-o", "got.bin", url(server, "down.bin"))

    assert proc.returncode == 18, proc
    assert file_sha256(work / "got.bin") == sha256(data)  # curl kept the whole file
    a = only(final_report(server, recorder, settings))
    assert (a.reaction, a.outcome) == (GAVE_UP, NOT_RECOVERED)
    assert a.sentence == (f"{WHO} ended the session without trying RETR /down.bin again (every byte "
                          "had been sent before the 451: the journal cannot tell whether the client "
                          "kept the file).")


def test_tnftp_keeps_a_cut_download_and_only_dates_it(server, recorder, settings, root, work):
    """tnftp exits 0 with the first 100000 bytes; its MDTM (to date the copy) is no check."""
    data = serve_file(root, "down.bin", 300_000, seed=9)
    server.arm("download=426,after=100000")

    proc = tnftp(work, "-q", "5", "-o", "got.bin", login_url(server, "down.bin"))

    assert proc.returncode == 0, proc
    assert (work / "got.bin").read_bytes() == data[:100_000]
    assert commands(recorder, "MDTM") == ["down.bin"]
    a = only(final_report(server, recorder, settings))
    assert (a.reaction, a.outcome) == (MOVED_ON, NOT_RECOVERED)
    assert a.sentence == (f"{WHO} went on (1 other command) without trying RETR /down.bin again "
                          "or checking it.")


def test_inetutils_ftp_falls_back_to_lpsv(server, recorder, settings, root, work):
    """It exits 0 whatever happened, here without the file."""
    serve_file(root, "down.bin", 300_000, seed=10)
    server.arm("data=425,times=1")

    proc = inetutils_ftp(server, work, "binary", "get down.bin got.bin")

    assert proc.returncode == 0, proc
    assert not (work / "got.bin").exists()
    a = only(final_report(server, recorder, settings))
    assert (a.command, a.reaction, a.outcome, a.attempts) == ("PASV", FELL_BACK, NOT_RECOVERED, 1)
    assert "fell back from PASV to LPSV on the same connection" in a.sentence


def test_lftp_timed_out_on_a_stall_logs_in_again_and_leaves(server, recorder, settings, root, work):
    """It had every byte (it knew SIZE), so after its timeout it logs in again, sees it is
    done and exits 0: the journal cannot tell that from giving up, and the sentence says so."""
    data = serve_file(root, "down.bin", 300_000, seed=11)
    server.arm("download,stall,times=1")

    run = lftp(server, work, "get down.bin -o got.bin", retries=3, settings="set net:timeout 2")

    assert run.returncode == 0, run
    assert file_sha256(work / "got.bin") == sha256(data)
    a = only(final_report(server, recorder, settings))
    assert (a.reaction, a.outcome, a.code) == (GAVE_UP, NOT_RECOVERED, None)
    assert re.fullmatch(rf"{WHO} closed the connection 2\.\d\d s after RETR /down\.bin got no "
                        r"answer \(its own timeout, or it was stopped: the journal cannot tell\), "
                        r"came back on a new connection and did not try again \(every byte had "
                        r"been sent before the fault \(never answer\): the journal cannot tell "
                        r"whether the client kept the file\)\.", a.sentence), a.sentence


def test_wget_after_a_login_that_hangs_up_was_cut_off(server, recorder, settings, root, work):
    serve_file(root, "down.bin", 1000, seed=12)
    server.arm("login=421,drop,times=1")

    proc = wget(work, "--tries=3", "-O", "got.bin", login_url(server, "down.bin"))

    assert proc.returncode == 6, proc  # wget's "authentication failure": never retried
    assert (work / "got.bin").read_bytes() == b""
    a = only(final_report(server, recorder, settings))
    assert (a.point, a.reaction, a.outcome) == ("login", GAVE_UP, NOT_RECOVERED)
    assert a.sentence == f"{WHO} was cut off after PASS (reply 421, hang up) and did not come back."


def test_curl_after_a_reset_upload_was_cut_off_not_stalled(server, recorder, settings, root, work):
    data = payload(200_000, seed=13)
    (work / "up.bin").write_bytes(data)
    server.arm("upload,reset,times=1")

    proc = curl(work, "--retry", "2", "-T", "up.bin", url(server, "up.bin"))

    assert proc.returncode == 56, proc  # "Recv failure: Connection reset by peer", not retried
    assert data.startswith((root / "up.bin").read_bytes())
    a = only(final_report(server, recorder, settings))
    assert (a.reaction, a.outcome, a.code) == (GAVE_UP, NOT_RECOVERED, None)
    assert a.sentence == f"{WHO} was cut off after STOR /up.bin (TCP reset) and did not come back."


def test_a_stall_that_curls_max_time_ends_is_not_guessed_a_timeout(
    server, recorder, settings, root, work
):
    data = serve_file(root, "down.bin", 300_000, seed=14)
    server.arm("download,stall,times=1")

    proc = curl(work, "--max-time", "2", "-o", "got.bin", url(server, "down.bin"))

    assert proc.returncode == 28, proc  # curl: (28) Operation timed out
    assert file_sha256(work / "got.bin") == sha256(data)
    a = only(final_report(server, recorder, settings))
    assert (a.reaction, a.outcome) == (GAVE_UP, NOT_RECOVERED)
    assert re.match(rf"{WHO} closed the connection 2\.\d\d s after RETR /down\.bin got no answer "
                    r"\(its own timeout, or it was stopped: the journal cannot tell\) and did not "
                    r"try again \(every byte had been sent", a.sentence), a.sentence


def test_wget_after_a_stall_checks_the_size_on_a_new_connection(
    server, recorder, settings, root, work
):
    data = serve_file(root, "down.bin", 300_000, seed=15)
    server.arm("download,stall,times=1")

    proc = wget(work, "-c", "--tries=3", "--waitretry=1", "--timeout=2", "-O", "got.bin",
                login_url(server, "down.bin"))

    assert proc.returncode == 0, proc
    assert file_sha256(work / "got.bin") == sha256(data)
    a = only(final_report(server, recorder, settings))
    assert (a.reaction, a.outcome, a.attempts) == (VERIFIED, ACCEPTED, 0)
    assert a.sentence == (f"{WHO} asked SIZE /down.bin on a new connection, saw 300000 and went on: "
                          "the fault (never answer) was hidden.")


# --- the README's table


def test_the_client_matrix_script_prints_the_reports_verdicts(tmp_path):
    """scripts/client_matrix.py makes the README's "What clients do with a fault" table."""
    binary("curl")
    proc = subprocess.run(
        [sys.executable, str(MATRIX), "--clients", "curl-retry", "--faults", "upload=451,times=1",
         "download=426,after=100000"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, stdin=subprocess.DEVNULL)

    assert proc.returncode == 0, proc
    header, rule, row = proc.stdout.splitlines()
    assert header == "| client | `upload=451,times=1` | `download=426,after=100000` |"
    assert re.fullmatch(r"\| curl [\d.]+ --retry 2 \| retried, recovered \(exit 0\) \| gave-up, "
                        r"not-recovered \(exit 18; 100000 of 1048576 B\) \|", row), row
