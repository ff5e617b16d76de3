"""The profiles shipped in ``profiles/``: each loads and starts ``ftpfault --headless``, the
README and each file's comment show how to run it, and each does what its comment says,
checked with real clients: ftplib (one at a time, or three sessions at once), the raw
client where the bytes on the wire are the point, curl where a client's fallback is.
"""

from __future__ import annotations

import ftplib
import io
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.ftp import code_of, login, noop_ok, retrieve, timed, upload_once
from tests.support.rawftp import RawFTP, raw_retrieve, raw_store
from tests.support.servers import DEADLINE, PASSWORD, USER, payload, serve_file, sha256
from tui.engine.points import STANDARD_MESSAGES
from tui.engine.profiles import load_profile

REPO = Path(__file__).resolve().parents[2]  # the repository: tests/automation/ is two below


PROFILES = sorted((REPO / "profiles").glob("*.toml"))


def test_the_repository_ships_example_profiles():
    assert {p.name for p in PROFILES} >= {
        "flaky-uploads.toml", "login-trouble.toml", "slow-and-cut-downloads.toml",
        "vsftpd-tls13-426.toml", "nat-pasv.toml", "no-epsv.toml", "iis-like.toml",
        "seed-double-reply.toml", "busy-server.toml"}


@pytest.mark.parametrize("path", PROFILES, ids=[p.stem for p in PROFILES])
def test_each_example_profile_loads_and_starts(path, tmp_path, headless):
    text = path.read_text(encoding="utf-8")
    # the comment shows how to run it, from the repository
    assert f"ftpfault --profile profiles/{path.name}" in text
    profile = load_profile(path)
    assert profile.rules and all(r.enabled for r in profile.rules)
    server = headless("--profile", str(path), "--port", "0", "--root", str(tmp_path))
    assert f"faults={', '.join(r.spec for r in profile.rules)}" in server.banner
    assert server.stop() == 0


def test_the_readme_uses_the_example_profiles():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = {p.name for p in PROFILES if f"--profile profiles/{p.name}" not in readme}
    assert not missing


def example(name: str) -> str:
    return str(REPO / "profiles" / name)


def test_flaky_uploads_profile(tmp_path, headless):
    """The first upload fails once (a retry succeeds), every 5th upload the rule is asked
    about is told the disk is full, .tmp uploads are cut after 64 KiB and removed."""
    server = headless("--profile", example("flaky-uploads.toml"), "--port", "0",
                      "--root", str(tmp_path))
    data = payload(100_000, seed=3)
    first = upload_once(server.port, "report.pdf", data)
    assert first == f"451 {STANDARD_MESSAGES[451]}"
    assert upload_once(server.port, "report.pdf", data).startswith("226")  # the retry
    assert (tmp_path / "report.pdf").read_bytes() == data

    codes = [code_of(upload_once(server.port, f"u{i}.bin")) for i in range(4)]
    cut = upload_once(server.port, "part.tmp", data)
    codes += [code_of(upload_once(server.port, f"u{i}.bin")) for i in range(4, 9)]
    # the retry above was the every=5 rule's first match (the times=1 rule had fired)
    assert codes == [226, 226, 226, 452, 226, 226, 226, 226, 452]
    assert cut == f"426 {STANDARD_MESSAGES[426]}"
    assert not (tmp_path / "part.tmp").exists()
    # (the log line's exact layout is test_cli's business: only what fired, where, by which rule)
    server.wait_line(r"FAULT upload\b.* -> 452 Insufficient storage space \(STOR /u3\.bin, rule r2\)")
    server.wait_line(r"FAULT upload\b.*cut after 65536 B.* -> 426 .*\(STOR /part\.tmp, rule r3\)"
                     r"|FAULT upload\b.* -> 426 .*\(STOR /part\.tmp, rule r3\).*cut after 65536 B")
    server.wait_line(r"transfer upload /part\.tmp 65536 B in .* -> 426")
    assert server.stop() == 0


def test_login_trouble_profile(tmp_path, headless):
    """The first login is refused as busy (421, connection closed); the next one is
    answered after 5 s; then logins work. PASV fails once with 425."""
    server = headless("--profile", example("login-trouble.toml"), "--port", "0",
                      "--root", str(tmp_path))
    ftp = ftplib.FTP(timeout=DEADLINE)
    ftp.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_temp, match=r"^421 "):
        ftp.login(USER, PASSWORD)
    with pytest.raises((EOFError, OSError)):  # closed by the server
        ftp.voidcmd("NOOP")
    ftp.close()

    began = time.monotonic()
    slow = login(server.port)
    assert time.monotonic() - began >= 4.9
    slow.quit()

    began = time.monotonic()
    ftp = login(server.port)
    assert time.monotonic() - began < 2
    with pytest.raises(ftplib.error_temp, match=r"^425 "):
        ftp.nlst()
    noop_ok(ftp)
    assert ftp.nlst() == []  # once only
    ftp.quit()
    assert server.stop() == 0


def in_parallel(*fns: Callable[[], object]) -> list[object]:
    """Run each function on a thread of its own; their results, or the first error."""
    results: list[object] = [None] * len(fns)
    errors: list[BaseException] = []

    def call(i: int) -> None:
        try:
            results[i] = fns[i]()
        except BaseException as err:  # noqa: BLE001 - raised again below
            errors.append(err)

    threads = [threading.Thread(target=call, args=(i,), daemon=True) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3 * DEADLINE)
    assert not any(t.is_alive() for t in threads), "a client is still running"
    if errors:
        raise errors[0]
    return results


def test_slow_and_cut_downloads_profile(tmp_path, headless):
    """Every download crawls at 256 KiB/s and .iso downloads are cut after 1 MB too (426);
    every 10th listing is 3 s late. The three run at once, each on its own session."""
    iso, other = payload(1_500_000, seed=1), payload(300_000, seed=2)
    (tmp_path / "disk.iso").write_bytes(iso)
    (tmp_path / "notes.bin").write_bytes(other)
    server = headless("--profile", example("slow-and-cut-downloads.toml"), "--port", "0",
                      "--root", str(tmp_path))

    def cut_download():
        ftp = login(server.port)
        reply, got = retrieve(ftp, "disk.iso")
        noop_ok(ftp)
        ftp.quit()
        return reply, got

    def slow_download():
        ftp = login(server.port)
        result = timed(lambda: retrieve(ftp, "notes.bin"))
        ftp.quit()
        return result

    def listings():
        ftp = login(server.port)
        times = [timed(ftp.nlst)[1] for _ in range(10)]
        ftp.quit()
        return times

    (reply, got), ((slow_reply, slow_got), elapsed), times = in_parallel(
        cut_download, slow_download, listings)
    assert reply == f"426 {STANDARD_MESSAGES[426]}"
    assert sha256(got) == sha256(iso[:1_000_000])
    assert slow_reply.startswith("226") and sha256(slow_got) == sha256(other)
    assert elapsed >= 0.9 * (len(other) - 32768) / 262144  # the first 32 KiB chunk is free
    assert max(times[:9]) < 1.5 and times[9] >= 2.9, times
    assert server.stop() == 0


# --- the server quirks


def test_vsftpd_tls13_426_profile(tmp_path, headless):
    """A whole FTPS upload answered 426 "Failure reading network stream.": the file is
    complete on the server all the same."""
    server = headless("--profile", example("vsftpd-tls13-426.toml"), "--port", "0",
                      "--root", str(tmp_path))
    assert "tls=explicit" in server.banner
    data = payload(200_000, seed=4)
    ftp = login(server.port, tls=True)
    with pytest.raises(ftplib.error_temp, match=r"^426 Failure reading network stream\.$"):
        ftp.storbinary("STOR up.bin", io.BytesIO(data))
    noop_ok(ftp)
    ftp.quit()
    assert sha256((tmp_path / "up.bin").read_bytes()) == sha256(data)
    assert server.stop() == 0


def test_nat_pasv_profile(tmp_path, headless):
    data = serve_file(tmp_path, "f.bin", 50_000, seed=5)
    server = headless("--profile", example("nat-pasv.toml"), "--port", "0", "--root", str(tmp_path))
    ftp = login(server.port)
    assert ftp.sendcmd("PASV").startswith("227 Entering passive mode (127,0,0,2,")
    assert retrieve(ftp, "f.bin") == ("226 Transfer complete.", data)  # ftplib ignores it
    ftp.trust_server_pasv_ipv4_address = True  # a client that dials what PASV says
    with pytest.raises(ConnectionRefusedError):
        ftp.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(ftp)
    ftp.quit()
    assert server.stop() == 0


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_no_epsv_profile(tmp_path, headless):
    data = serve_file(tmp_path, "f.bin", 50_000, seed=6)
    server = headless("--profile", example("no-epsv.toml"), "--port", "0", "--root", str(tmp_path))
    raw = RawFTP(server.port)
    raw.login()
    assert " EPSV" in raw.cmd("FEAT").splitlines()  # advertised...
    assert raw.cmd("EPSV") == '500 Command "EPSV" not understood.'  # ...and refused
    raw.close()
    curl = subprocess.run(["curl", "-q", "-sS", "--max-time", "20", "-u", f"{USER}:{PASSWORD}",
                           f"ftp://127.0.0.1:{server.port}/f.bin"], capture_output=True,
                          timeout=DEADLINE * 3)
    assert (curl.returncode, curl.stdout) == (0, data)  # curl falls back to PASV
    server.wait_line(r"<- PASV")
    assert server.stop() == 0


def test_iis_like_profile(tmp_path, headless):
    data = serve_file(tmp_path, "f.bin", 10_000, seed=7)
    (tmp_path / "sub").mkdir()
    server = headless("--profile", example("iis-like.toml"), "--port", "0", "--root", str(tmp_path))
    ftp = login(server.port)
    assert ftp.sendcmd("SYST") == "215 Windows_NT"
    lines: list[str] = []
    ftp.retrlines("LIST", lines.append)
    assert all(re.match(r"\d\d-\d\d-\d\d  \d\d:\d\d[AP]M ", line) for line in lines), lines
    assert any("<DIR>" in line and line.endswith(" sub") for line in lines), lines
    with pytest.raises(ftplib.error_perm, match="^500 "):
        list(ftp.mlsd())
    noop_ok(ftp)
    ftp.quit()
    raw = RawFTP(server.port)
    raw.login()
    assert raw.cmd("TYPE I").startswith("200")
    first, got, final = raw_retrieve(raw, "RETR f.bin")
    assert (first, got, final) == ("125 Data connection already open; Transfer starting.", data,
                                   "226 Transfer complete.")
    raw.close()
    assert server.stop() == 0


def test_seed_double_reply_profile(tmp_path, headless):
    """The raw client reads the 426, then the stray 226; NOOP then gets its own 200."""
    server = headless("--profile", example("seed-double-reply.toml"), "--port", "0",
                      "--root", str(tmp_path))
    raw = RawFTP(server.port)
    raw.login()
    first, final = raw_store(raw, "up.bin", b"x" * 10_000)
    assert (first[:1], final) == ("1", "426 Connection closed; transfer aborted.")
    assert raw.reply() == "226 Transfer complete."
    noop_ok(raw)
    raw.close()
    server.wait_line(r"-> 226 Transfer complete\. \(unsolicited")
    assert server.stop() == 0


def test_busy_server_profile(tmp_path, headless):
    server = headless("--profile", example("busy-server.toml"), "--port", "0",
                      "--root", str(tmp_path))
    greetings = []
    for _ in range(4):
        ftp = ftplib.FTP(timeout=DEADLINE)
        try:
            greetings.append(ftp.connect("127.0.0.1", server.port)[:3])
            ftp.login(USER, PASSWORD)
            noop_ok(ftp)
            ftp.quit()
        except ftplib.error_temp as err:
            assert str(err) == "421 Too many connections. Service temporarily unavailable."
            greetings.append("421")
        ftp.close()
    assert greetings == ["220", "421", "220", "421"]
    assert server.stop() == 0
