"""curl (7.88, Debian 12 builds, loopback) against the fault model's rules: completion
faults up and down, a retry past a one-time fault, a download cut after N bytes, a start
fault that creates nothing, active mode, and FTPS (``--ssl-reqd``).

What curl did here, for the README:

- A completion fault (``upload=CODE``, ``download=CODE``): exit 18 (CURLE_PARTIAL_FILE),
  ``curl: (18) server did not report OK, got CODE``; every byte is there (on disk, or in
  curl's output). With ``--next`` curl reuses the connection and stays in step.
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
- ``upload-start=CODE``: curl exits 25, ``curl: (25) Failed FTP upload: CODE``; no file.

The payloads are seeded random bytes with no period (``tests.support.servers.payload``),
so a copy shifted by a REST offset or truncated shows in its hash.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.support.clients import (
    assert_one_final_reply_per_command, binary, commands, curl, curl_error, settle, transfers, url,
)
from tests.support.servers import (
    DEADLINE, PASSWORD, USER, Recorder, file_sha256, payload, serve_file, sha256,
)
from tui.engine.ftp.control import FaultFTPHandler
from tui.testing import FaultServer


PICKER = [425, 426, 450, 451, 452]


# --- completion faults


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


# --- a retry gets past a one-time fault


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


# --- a download cut after N bytes


def cut_transfer(recorder: Recorder, sized: bool):
    """The transfer event of a cut download. When curl knows the size it hangs up (no QUIT)
    as soon as the data ends early: the server's 426 then goes to a closed connection, or
    is not sent at all when the session's end is handled first (code None: no reply). And the
    session's close event may come before the transfer's: wait for the transfer itself."""
    (transfer,) = recorder.wait("transfer", direction="download")
    assert transfer.code in ((426, None) if sized else (426,)), transfer
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
    data = serve_file(root, "down.bin", 300_000, seed=after)
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
    data = serve_file(root, "down.bin", 300_000, seed=5)
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
    data = serve_file(root, "down.bin", size, seed=size)
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


# --- a start fault creates nothing


@pytest.mark.parametrize("code", [425, 450, 452, 553])
@pytest.mark.parametrize("existing", [False, True], ids=["new-file", "existing-file"])
def test_curl_upload_start_fault_leaves_the_root_untouched(
    server, root, work, recorder, code, existing
):
    old = serve_file(root, "up.bin", 1_000, seed=9) if existing else None
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


# --- FTPS: --ssl-reqd against the plugin's TLS fixture


DATA = payload(300_000, seed=11)
SMALL = payload(131_072, seed=12)


def curl_ftps(server: FaultServer, *args: str, path: str = "") -> subprocess.CompletedProcess:
    url = f"ftp://{server.user}:{server.password}@127.0.0.1:{server.port}/{path}"
    return subprocess.run([binary("curl"), "-sS", "--ssl-reqd", "-k", "--max-time", str(DEADLINE), *args,
                           url], capture_output=True, timeout=DEADLINE + 5)


def test_curl_ssl_reqd_against_the_tls_fixture(ftp_fault_server_tls, tmp_path):
    srv = ftp_fault_server_tls
    (srv.root / "f.bin").write_bytes(DATA)
    clean = curl_ftps(srv, path="f.bin")
    assert (clean.returncode, clean.stderr) == (0, b"")
    assert sha256(clean.stdout) == sha256(DATA)

    srv.arm("download=451,times=1")
    faulted = curl_ftps(srv, path="f.bin")
    assert faulted.returncode == 18
    assert faulted.stderr.decode().strip() == "curl: (18) server did not report OK, got 451"
    assert sha256(faulted.stdout) == sha256(DATA)  # every byte came before the fault

    local = tmp_path / "up.bin"
    local.write_bytes(SMALL)
    srv.arm("upload=452,times=1")
    faulted = curl_ftps(srv, "-T", str(local), path="up.bin")
    assert faulted.returncode == 18
    assert b"got 452" in faulted.stderr
    clean = curl_ftps(srv, "-T", str(local), path="up2.bin")
    assert clean.returncode == 0, clean.stderr
    assert sha256((srv.root / "up2.bin").read_bytes()) == sha256(SMALL)

    srv.arm("download,after=100000,times=1")
    cut = curl_ftps(srv, path="f.bin")  # curl knows the size (SIZE) and sees the cut
    assert cut.returncode == 18 and sha256(cut.stdout) == sha256(DATA[:100_000])
    assert b"transfer closed with 200000 bytes remaining" in cut.stderr

    assert [(e.point, e.code) for e in srv.fired()] == [("download", 451), ("upload", 452),
                                                        ("download", 426)]
    commands = [(e.command, e.arg) for e in srv.events("command")]
    assert ("PROT", "P") in commands and ("PROT", "C") not in commands
    assert not any(c == "USER" for c, _ in commands[:commands.index(("AUTH", "SSL"))])
