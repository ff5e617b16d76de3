"""Reliability: garbage on the control channel, clients that vanish mid-transfer, many clients
at once, a fault toggled under load, stopping with transfers in flight, and start-up errors.

Every test looks at both sides: what the client saw (replies, exceptions) and what the server
kept (events, fault counters, files on disk). The invariant behind all of them: exactly one
final reply per command, so the next command on the same connection gets its own answer.
"""

from __future__ import annotations

import ftplib
import io
import os
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import (
    DEADLINE,
    Recorder,
    connect,
    file_sha256,
    payload,
    sha256,
)
from rawftp import RawFTP

from tui.engine.logline import format_event
from tui.engine.rules import Rule, parse_rule
from tui.engine.ftp.control import MAX_ARG_LEN
from tui.engine.server import FaultServer, ServerError
from tui.engine.settings import Settings

# pyftpdlib's own limit for one command line (FTPHandler.collect_incoming_data); replies that
# echo part of a line are bounded by it.
PYFTPDLIB_LINE_LIMIT = 2048
CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- helpers


def address_of(sock: socket.socket) -> str:
    """A client socket's address as the server's events spell it."""
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def session_for(recorder: Recorder, sock_or_address: socket.socket | str) -> int:
    """The server's session id for a connected client (matched by its address).

    The server emits ``session.open`` before it sends the greeting, so once a client has
    read the greeting the event is there; the last match wins if a port was reused.
    Call it from the test's thread only: the Recorder is not made for several readers."""
    address = sock_or_address if isinstance(sock_or_address, str) else address_of(sock_or_address)
    return recorder.wait("session.open", address=address)[-1].session


def add_rule(server: FaultServer, spec: str, armed: bool) -> Rule:
    """The same rule armed or not, so a test shows what the fault changes and what it doesn't."""
    return server.board.add(parse_rule(spec).replace(enabled=armed))


def open_transfer(server: FaultServer, recorder: Recorder, command: str
                  ) -> tuple[RawFTP, int, socket.socket]:
    """A raw session, logged in, with COMMAND begun on a passive data connection:
    the client, its session id on the server, the data socket."""
    raw = RawFTP(server.port)
    sid = session_for(recorder, raw.sock)
    raw.login()
    data_sock = raw.transfer(command)
    return raw, sid, data_sock


def reset_on_close(sock: socket.socket) -> None:
    """Make close() send an RST instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def vanish(raw: RawFTP, data_sock: socket.socket, rst: bool, control_first: bool = True) -> None:
    """Drop the client without a word: close the control and data sockets back to back."""
    socks = [raw.sock, data_sock] if control_first else [data_sock, raw.sock]
    raw.file.close()  # the makefile() reader holds the control socket open otherwise
    for sock in socks:
        if rst:
            reset_on_close(sock)
        sock.close()


def replies_until_noop(raw: RawFTP) -> list[str]:
    """Every reply line the server sends before the ``200`` that answers our NOOP.

    Lines are read as the server wrote them (split at LF), so a reply that contains a bare
    LF shows as two lines here, as it does to a line-based client."""
    lines = []
    while True:
        line = raw.file.readline()
        if not line:
            raise ConnectionError(f"control connection closed after {lines!r}")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("200 "):
            return lines
        lines.append(text)
        assert len(lines) < 50, f"the server keeps talking: {lines[:5]!r}..."


def assert_serves_a_fresh_client(server: FaultServer) -> None:
    client = connect(server)
    try:
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
    finally:
        client.close()


def run_in_threads(target, count: int, timeout: float = 30.0) -> list:
    """Run ``target(i)`` for i in range(count) on threads; re-raise the first failure."""
    results: list = [None] * count
    failures: list[tuple[int, BaseException]] = []

    def work(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # noqa: BLE001 - reported below with its index
            failures.append((i, exc))

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    end = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    stuck = [i for i, t in enumerate(threads) if t.is_alive()]
    assert not stuck, f"client threads {stuck} still running after {timeout} s"
    if failures:
        i, exc = failures[0]
        raise AssertionError(f"client {i} failed ({len(failures)} in all): {exc!r}") from exc
    return results


# --- 1. garbage on the control channel

RNG_BYTES = random.Random(20240601).randbytes(600)

# (id, line without CRLF, expected reply code logged in, expected reply code before login)
GARBAGE = [
    # random bytes without CR/LF (a bare CR or LF is test_bare_cr_or_lf_...)
    ("random-binary", RNG_BYTES.replace(b"\r", b"").replace(b"\n", b""), "500", "500"),
    ("nul-bytes", b"\x00" * 16, "500", "500"),
    ("nul-0xff-mix", b"\x00\xff\x00\xfe\xff STOR \x00", "500", "500"),
    ("invalid-utf8", b"\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x90\x28\xbc \xff\xfe\xed\xa0\x80",
     "500", "500"),
    ("empty-line", b"", "500", "500"),
    ("only-spaces", b" " * 40, "500", "500"),
    ("unknown-verb", b"FROBNICATE the server", "500", "500"),
    ("long-unknown-verb", b"Q" * 1900, "500", "500"),
    ("unknown-verb-huge-arg", b"FROB " + b"x" * 1900, "500", "500"),
    ("noop-huge-arg", b"NOOP " + b"y" * 1900, "501", "501"),
    ("cwd-huge-arg", b"CWD " + b"z" * 1900, "550", "530"),
    ("retr-huge-arg", b"RETR " + b"w" * 1900, "550", "530"),
    ("telnet-iac-garbage", b"\xff\xf4\xff\xf2FROB", "500", "500"),
    ("telnet-negotiation", b"\xff\xfb\x01\xff\xfd\x03\xff\xfe\x22", "500", "500"),
    # RFC 959 "Telnet IP + Synch, then ABOR": pyftpdlib honours it, still one reply
    ("telnet-ip-synch-abor", b"\xff\xf4\xff\xf2ABOR", "225", "530"),
]


@pytest.mark.parametrize("logged_in", [True, False], ids=["logged-in", "before-login"])
@pytest.mark.parametrize(
    "line, code_in, code_out", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE]
)
def test_garbage_line_gets_one_reply_and_the_session_goes_on(
    server, root, recorder, line, code_in, code_out, logged_in
):
    assert len(line) < PYFTPDLIB_LINE_LIMIT and b"\r" not in line and b"\n" not in line
    raw = RawFTP(server.port)
    try:
        sid = session_for(recorder, raw.sock)
        if logged_in:
            raw.login()
        raw.sock.sendall(line + b"\r\nNOOP\r\n")
        replies = replies_until_noop(raw)
        expected = code_in if logged_in else code_out
        assert len(replies) == 1, f"one reply expected, got {replies!r}"
        assert replies[0].startswith(f"{expected} "), replies
        # the same connection goes on: a second command, another single reply
        assert raw.cmd("NOOP").startswith("200")
        assert raw.cmd("QUIT").startswith("221")
    finally:
        raw.close()

    # the server's view: one reply event per reply the client read, nothing else
    # (greeting, [USER, PASS], garbage, NOOP, NOOP, QUIT)
    n_replies = 1 + (2 if logged_in else 0) + 4
    assert len(recorder.wait("reply", count=n_replies, session=sid)) == n_replies
    commands = recorder.of("command", session=sid)
    assert len(commands) == n_replies - 1
    for event in commands:
        assert len(event.command) <= MAX_ARG_LEN and len(event.arg) <= MAX_ARG_LEN, event
    for event in recorder.of("reply", session=sid):
        # bounded by pyftpdlib's line limit, not by MAX_ARG_LEN: see the report
        assert len(event.message) <= PYFTPDLIB_LINE_LIMIT + 64
    if len(line) > MAX_ARG_LEN + 10:
        # the long part is cut in the command event, not kept whole
        assert any(
            len(e.command) == MAX_ARG_LEN or len(e.arg) == MAX_ARG_LEN for e in commands
        ), commands
    recorder.wait("session.close", session=sid)
    assert recorder.of("error") == []
    assert recorder.of("transfer") == [] and recorder.of("fault") == []
    assert list(root.iterdir()) == []
    assert_serves_a_fresh_client(server)


def test_a_client_sending_garbage_does_not_hold_up_others(server, root, recorder):
    """Garbage on one connection while another client transfers on its own."""
    server.board.add("upload=451")
    noisy = RawFTP(server.port)
    good = connect(server)
    try:
        data = payload(300_000, seed=99)
        for line, _, _ in [g[1:] for g in GARBAGE]:
            noisy.sock.sendall(line + b"\r\nNOOP\r\n")
            assert len(replies_until_noop(noisy)) == 1
            with pytest.raises(ftplib.error_temp, match="^451 "):
                good.storbinary("STOR good.bin", io.BytesIO(data))
            assert good.voidcmd("NOOP").startswith("200")
        assert file_sha256(root / "good.bin") == sha256(data)
        good.quit()
    finally:
        good.close()
        noisy.close()
    assert len(recorder.of("fault")) == len(GARBAGE)
    assert recorder.of("error") == []


def test_over_long_line_gets_one_reply_ftplib(server, recorder):
    ftp = connect(server)
    try:
        with pytest.raises(ftplib.error_perm, match="^500 "):
            ftp.sendcmd("SITE " + "x" * 10_000)
        assert ftp.voidcmd("NOOP").startswith("200 ")
    finally:
        ftp.close()
    assert recorder.of("error") == []


@pytest.mark.parametrize(
    "size, split", [(10_000, False), (100_000, True)], ids=["10K", "100K-partial"]
)
def test_over_long_line_gets_one_reply_raw(server, recorder, size, split):
    raw = RawFTP(server.port)
    try:
        raw.login()
        if split:  # the partial line first; the server may say nothing until the CRLF
            raw.sock.sendall(b"A" * size)
            raw.sock.sendall(b"\r\nNOOP\r\n")
        else:
            raw.sock.sendall(b"A" * size + b"\r\nNOOP\r\n")
        replies = replies_until_noop(raw)
        assert len(replies) == 1 and replies[0].startswith("500 "), replies
    finally:
        raw.close()


@pytest.mark.parametrize(
    "line", [b"FOO\nBAR", b"FOO\rBAR", b"NOOP\n200 forged", RNG_BYTES],
    ids=["bare-lf", "bare-cr", "forged-200", "random-binary-with-cr-lf"],
)
def test_bare_cr_or_lf_inside_a_line_does_not_desync_ftplib(server, recorder, line):
    assert b"\r\n" not in line
    ftp = connect(server)
    try:
        ftp.sock.sendall(line + b"\r\n")
        with pytest.raises(ftplib.error_perm, match="^500 "):
            ftp.getresp()
        assert ftp.voidcmd("NOOP").startswith("200 ")
    finally:
        ftp.close()


@pytest.mark.parametrize(
    "line", [b"\x1b[2J\x1b[1;31mOWNED\x07", b"FOO\n12:00:00.000 #1 login admin ok"],
    ids=["terminal-escape", "forged-log-line"],
)
def test_log_lines_of_garbage_carry_no_control_characters(server, recorder, line):
    raw = RawFTP(server.port)
    try:
        sid = session_for(recorder, raw.sock)
        raw.sock.sendall(line + b"\r\n")
        raw.reply()
    finally:
        raw.close()
    recorder.wait("session.close", session=sid)
    lines = [format_event(e) for e in recorder.of("command", session=sid)]
    lines += [format_event(e) for e in recorder.of("reply", session=sid)]
    bad = [text for text in lines if text and CONTROL_CHARS.search(text)]
    assert bad == []


# --- 2. a client vanishing mid-transfer


@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("armed", [False, True], ids=["no-fault", "fault-armed"])
def test_client_vanishing_mid_upload(server, root, recorder, armed, rst):
    rule = add_rule(server, "upload=451", armed)
    data = payload(1_000_000, seed=7)
    half = data[:500_000]
    raw, sid, data_sock = open_transfer(server, recorder, "STOR vanish.bin")
    data_sock.sendall(half)
    # the server has read every byte sent so far: the transfer is open, mid-way
    recorder.wait("transfer.progress", session=sid, bytes=len(half))
    vanish(raw, data_sock, rst=rst, control_first=True)

    recorder.wait("session.close", session=sid)
    (transfer,) = recorder.wait("transfer", session=sid)
    assert transfer.code == 0, "a reply was sent for a vanished upload"
    assert (transfer.direction, transfer.bytes) == ("upload", len(half))
    assert server.board.fired(rule.id) == 0
    assert recorder.of("fault") == []
    assert recorder.of("error") == []
    # what arrived is on disk, whole (the file is closed before the transfer event)
    assert (root / "vanish.bin").read_bytes() == half

    # a new client works, and the rule fires for a transfer that does complete
    client = connect(server)
    try:
        if armed:
            with pytest.raises(ftplib.error_temp, match="^451 "):
                client.storbinary("STOR after.bin", io.BytesIO(data))
        else:
            assert client.storbinary("STOR after.bin", io.BytesIO(data)).startswith("226")
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
    finally:
        client.close()
    assert file_sha256(root / "after.bin") == sha256(data)
    assert server.board.fired(rule.id) == (1 if armed else 0)
    assert recorder.of("error") == []


def test_upload_ended_by_fin_then_client_vanishes(server, root, recorder):
    """A FIN on an upload's data connection *is* its end in FTP stream mode: the server
    cannot tell it from a finished upload, so the fault may fire, but its books agree."""
    rule = server.board.add("upload=451")
    half = payload(500_000, seed=9)
    raw, sid, data_sock = open_transfer(server, recorder, "STOR fin.bin")
    data_sock.sendall(half)
    recorder.wait("transfer.progress", session=sid, bytes=len(half))
    vanish(raw, data_sock, rst=False, control_first=False)

    recorder.wait("session.close", session=sid)
    (transfer,) = recorder.wait("transfer", session=sid)
    faults = recorder.of("fault", session=sid)
    # either the data FIN was seen first (a complete upload, faulted, the reply lost with
    # the client) or the control close was (no reply at all); nothing in between
    assert (transfer.code, server.board.fired(rule.id), len(faults)) in ((451, 1, 1), (0, 0, 0))
    assert transfer.bytes == len(half)
    assert (root / "fin.bin").read_bytes() == half
    assert recorder.of("error") == []
    assert_serves_a_fresh_client(server)


BIG_DOWNLOAD = 16 * 1024 * 1024  # well beyond what loopback socket buffers hold unread


def write_big_file(path: Path, size: int = BIG_DOWNLOAD, seed: int = 11) -> str:
    block = payload(1 << 20, seed=seed)
    with path.open("wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    return file_sha256(path)


@pytest.mark.parametrize("order", ["control-first", "data-first"])
@pytest.mark.parametrize("rst", [False, True], ids=["fin", "rst"])
@pytest.mark.parametrize("armed", [False, True], ids=["no-fault", "fault-armed"])
def test_client_vanishing_mid_download(server, root, recorder, armed, rst, order):
    rule = add_rule(server, "download=451", armed)
    digest = write_big_file(root / "big.bin")
    raw, sid, data_sock = open_transfer(server, recorder, "RETR big.bin")
    got = 0
    while got < 100_000:
        chunk = data_sock.recv(65536)
        assert chunk, "data connection closed early"
        got += len(chunk)
    vanish(raw, data_sock, rst=rst, control_first=(order == "control-first"))

    recorder.wait("session.close", session=sid)
    (transfer,) = recorder.wait("transfer", session=sid)
    # 0: the control channel was gone first, no reply; 426: pyftpdlib saw the data connection
    # break first and said "426 Transfer aborted" into the dying control connection. Never
    # 226, never the fault: the transfer did not complete.
    assert transfer.code in (0, 426), transfer
    assert transfer.direction == "download" and 0 < transfer.bytes < BIG_DOWNLOAD
    assert server.board.fired(rule.id) == 0
    assert recorder.of("fault") == []
    assert recorder.of("error") == []
    assert file_sha256(root / "big.bin") == digest

    small = payload(100_000, seed=12)
    (root / "small.bin").write_bytes(small)
    client = connect(server)
    try:
        got_small = bytearray()
        if armed:
            with pytest.raises(ftplib.error_temp, match="^451 "):
                client.retrbinary("RETR small.bin", got_small.extend)
        else:
            assert client.retrbinary("RETR small.bin", got_small.extend).startswith("226")
        assert bytes(got_small) == small
        assert client.voidcmd("NOOP").startswith("200")
        client.quit()
    finally:
        client.close()
    assert server.board.fired(rule.id) == (1 if armed else 0)


@pytest.mark.parametrize("armed", [False, True], ids=["no-fault", "fault-armed"])
def test_upload_reset_by_the_client_is_not_a_completed_transfer(server, root, recorder, armed):
    rule = add_rule(server, "upload=451", armed)
    half = payload(500_000, seed=8)
    raw, sid, data_sock = open_transfer(server, recorder, "STOR reset.bin")
    try:
        data_sock.sendall(half)
        recorder.wait("transfer.progress", session=sid, bytes=len(half))
        reset_on_close(data_sock)
        data_sock.close()  # RST on the data connection, the control connection stays
        reply = raw.reply()
        assert raw.cmd("NOOP").startswith("200")  # holds today: one reply, no desync
        assert server.board.fired(rule.id) == 0, f"fault fired on a reset upload ({reply})"
        assert reply.startswith("426 "), f"a reset upload was answered {reply!r}"
    finally:
        raw.close()


# --- 3. many clients at once under an armed fault

N_CLIENTS = 32


@pytest.mark.parametrize("armed", [True, False], ids=["fault-armed", "no-fault"])
def test_32_concurrent_uploads(server, root, recorder, armed):
    rule = add_rule(server, "upload=451", armed)
    datas = [payload(200_000 + 9_000 * i, seed=i) for i in range(N_CLIENTS)]
    start = threading.Barrier(N_CLIENTS, timeout=DEADLINE)

    def client(i: int) -> tuple[int, str, str]:
        ftp = connect(server)
        try:
            address = address_of(ftp.sock)
            start.wait()
            try:
                final = ftp.storbinary(f"STOR up{i:02d}.bin", io.BytesIO(datas[i]))
            except ftplib.error_temp as err:
                final = str(err)
            noop = ftp.voidcmd("NOOP")
            ftp.quit()
            return address, final, noop
        finally:
            ftp.close()

    results = run_in_threads(client, N_CLIENTS)
    expected = "451 " if armed else "226 "
    for i, (_sid, final, noop) in enumerate(results):
        assert final.startswith(expected), (i, final)
        assert noop.startswith("200"), (i, noop)
    for i, data in enumerate(datas):
        assert file_sha256(root / f"up{i:02d}.bin") == sha256(data), i

    assert server.board.fired(rule.id) == (N_CLIENTS if armed else 0)
    transfers = recorder.wait("transfer", count=N_CLIENTS, direction="upload")
    assert len(transfers) == N_CLIENTS
    assert Counter(t.code for t in transfers) == {int(expected): N_CLIENTS}
    sessions = [session_for(recorder, address) for address, _, _ in results]
    assert sorted(t.session for t in transfers) == sorted(sessions)
    assert {t.bytes for t in transfers} == {len(d) for d in datas}
    faults = recorder.of("fault")
    assert len(faults) == (N_CLIENTS if armed else 0)
    paths = {f"/up{i:02d}.bin" for i in range(N_CLIENTS)}
    assert {f.path for f in faults} == (paths if armed else set())
    recorder.wait("session.close", count=N_CLIENTS)
    assert recorder.of("error") == []


# --- 4. a fault toggled rapidly while transfers run


def test_fault_toggled_every_millisecond_under_load(server, root, recorder):
    rule = server.board.add("upload=451")
    n_clients, n_uploads = 8, 20
    stop = threading.Event()
    flips = 0

    def toggler() -> None:
        nonlocal flips
        enabled = True
        while not stop.is_set():
            enabled = not enabled
            server.board.update(rule.id, enabled=enabled)
            flips += 1
            stop.wait(0.001)  # pacing, not synchronisation

    def client(c: int) -> tuple[str, list[int]]:
        ftp = connect(server)
        try:
            address = address_of(ftp.sock)
            codes = []
            for k in range(n_uploads):
                data = payload(20_000 + 1_000 * k, seed=c * 100 + k)
                try:
                    final = ftp.storbinary(f"STOR c{c}_{k:02d}.bin", io.BytesIO(data))
                except ftplib.error_temp as err:
                    final = str(err)
                assert final[:4] in ("226 ", "451 "), final
                codes.append(int(final[:3]))
                assert ftp.voidcmd("NOOP").startswith("200")  # no stray reply in between
            ftp.quit()
            return address, codes
        finally:
            ftp.close()

    flipper = threading.Thread(target=toggler, daemon=True)
    flipper.start()
    try:
        results = run_in_threads(client, n_clients, timeout=60)
    finally:
        stop.set()
        flipper.join(DEADLINE)
    assert not flipper.is_alive()

    for c in range(n_clients):
        for k in range(n_uploads):
            data = payload(20_000 + 1_000 * k, seed=c * 100 + k)
            assert file_sha256(root / f"c{c}_{k:02d}.bin") == sha256(data), (c, k)
    total = n_clients * n_uploads
    transfers = recorder.wait("transfer", count=total, direction="upload")
    transfers.sort(key=lambda e: e.seq)  # emission order, whatever order they were read in
    assert len(transfers) == total
    n_faulted = 0
    for address, codes in results:
        sid = session_for(recorder, address)
        faults = recorder.of("fault", session=sid)
        assert codes.count(451) == len(faults), (sid, codes)
        # the server's record of each final reply, in order, is what the client read
        assert [t.code for t in transfers if t.session == sid] == codes
        n_faulted += codes.count(451)
    assert server.board.fired(rule.id) == n_faulted == len(recorder.of("fault"))
    assert 0 < n_faulted < total, "the toggling never showed: all replies alike"
    assert flips > 20, f"the toggler only flipped {flips} times"
    assert recorder.of("error") == []


# --- 5. stopping the server while transfers run


class EndlessUpload:
    """A file-like object for storbinary that never ends; says when ``after`` bytes went out."""

    def __init__(self, after: int) -> None:
        self.block = payload(64 * 1024, seed=21)
        self.sent = 0
        self.after = after
        self.flowing = threading.Event()

    def read(self, size: int = -1) -> bytes:
        chunk = self.block[: size if 0 < size <= len(self.block) else len(self.block)]
        self.sent += len(chunk)
        if self.sent >= self.after:
            self.flowing.set()
        return chunk


def test_stop_with_transfers_in_flight(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    digest = write_big_file(root / "big.bin")
    server = FaultServer(Settings(root=root, port=0, passive_ports=None))
    recorder = Recorder(server.bus)
    server.board.add("upload=451")
    server.board.add("download=451")
    server.start()
    port = server.port
    stopped = threading.Event()
    outcome: dict[str, BaseException | str] = {}
    addresses: dict[str, str] = {}
    try:
        upload_source = EndlessUpload(after=2_000_000)
        download_flowing = threading.Event()

        def uploader() -> None:
            ftp = connect(server, timeout=5)
            addresses["upload"] = address_of(ftp.sock)
            try:
                outcome["upload"] = ftp.storbinary("STOR endless.bin", upload_source)
            except BaseException as exc:  # noqa: BLE001 - the test looks at it
                outcome["upload"] = exc
            finally:
                ftp.close()

        def downloader() -> None:
            ftp = connect(server, timeout=5)
            addresses["download"] = address_of(ftp.sock)

            def sink(chunk: bytes) -> None:
                if not download_flowing.is_set():
                    download_flowing.set()
                    stopped.wait(DEADLINE)  # stop reading until the server is gone

            try:
                outcome["download"] = ftp.retrbinary("RETR big.bin", sink)
            except BaseException as exc:  # noqa: BLE001
                outcome["download"] = exc
            finally:
                ftp.close()

        idle = connect(server, timeout=5)
        addresses["idle"] = address_of(idle.sock)
        threads = [threading.Thread(target=f, daemon=True) for f in (uploader, downloader)]
        for thread in threads:
            thread.start()
        assert upload_source.flowing.wait(DEADLINE), "upload never got going"
        assert download_flowing.wait(DEADLINE), "download never got going"
        recorder.wait("transfer.progress", direction="upload")  # the server sees both mid-way
        recorder.wait("transfer.progress", direction="download")

        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
        stopped.set()
    finally:
        stopped.set()
        server.stop()
    assert took < 2.0, f"stop() took {took:.2f} s"
    assert server.wait_stopped(0)
    assert server._thread is not None and not server._thread.is_alive()

    for thread in threads:
        thread.join(DEADLINE)
    assert not any(t.is_alive() for t in threads), "a client hung after the server stopped"
    # the clients learn the connection is gone by an exception, not a reply
    for name in ("upload", "download"):
        assert isinstance(outcome[name], (OSError, EOFError, ftplib.Error)), (name, outcome[name])
    with pytest.raises((OSError, EOFError)):
        idle.voidcmd("NOOP")
    idle.close()

    # every session was closed and said so; nothing faulted, nothing failed
    sessions = {session_for(recorder, address) for address in addresses.values()}
    assert len(sessions) == 3
    closed = {e.session for e in recorder.of("session.close")}
    assert closed == sessions == {e.session for e in recorder.of("session.open")}
    for transfer in recorder.of("transfer"):
        assert transfer.code == 0, transfer  # closed by the stop, no reply
    assert recorder.of("fault") == []
    assert server.board.fired(server.board.first("upload").id) == 0
    assert recorder.of("error") == []
    assert file_sha256(root / "big.bin") == digest
    assert (root / "endless.bin").stat().st_size > 0

    # the port is free: a listener can bind it (SO_REUSEADDR, as any server, since the
    # closed connections sit in TIME_WAIT on that port) and a new server serves on it
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        probe.listen()
    with FaultServer(Settings(root=root, port=port, passive_ports=None)) as again:
        assert again.port == port
        assert_serves_a_fresh_client(again)


def test_stop_is_prompt_with_many_idle_and_half_open_clients(tmp_path):
    """Clients that connected but never spoke, and ones that left a partial line."""
    root = tmp_path / "root"
    server = FaultServer(Settings(root=root, port=0, passive_ports=None))
    recorder = Recorder(server.bus)
    server.start()
    socks = []
    try:
        for i in range(20):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE)
            socks.append(sock)
            if i % 2:
                sock.sendall(b"USER test")  # no CRLF
        recorder.wait("session.open", count=20)
        began = time.monotonic()
        server.stop()
        took = time.monotonic() - began
    finally:
        server.stop()
    assert took < 2.0
    for sock in socks:
        data = b""
        while chunk := sock.recv(4096):  # greeting, then EOF; a hang hits the timeout
            data += chunk
        assert data.startswith(b"220 ") and data.count(b"\r\n") == 1, data
        sock.close()
    assert len(recorder.of("session.close")) == 20
    assert recorder.of("error") == []


# --- 6. start-up errors


def test_port_in_use_is_one_clear_line(root):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(ServerError) as err:
            FaultServer(Settings(root=root, port=port, passive_ports=None))
        message = str(err.value)
        assert str(port) in message and "in use" in message, message
        assert "\n" not in message and len(message) < 200, message
        assert "Errno" not in message, message  # words for a user, not an errno dump
    # nothing was left behind by the failed start: the port serves once it is free
    with FaultServer(Settings(root=root, port=port, passive_ports=None)) as server:
        assert_serves_a_fresh_client(server)


def assert_one_line_naming(err: pytest.ExceptionInfo, path: Path) -> str:
    message = str(err.value)
    assert str(path) in message, message
    assert "\n" not in message and len(message) < 300, message
    return message


def test_root_that_is_a_file(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_bytes(b"keep me")
    with pytest.raises(ServerError) as err:
        FaultServer(Settings(root=path, port=0, passive_ports=None))
    assert "not a directory" in assert_one_line_naming(err, path)
    assert path.read_bytes() == b"keep me"


def test_root_below_a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_bytes(b"")
    with pytest.raises(ServerError) as err:
        FaultServer(Settings(root=path / "sub", port=0, passive_ports=None))
    assert_one_line_naming(err, path / "sub")


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0,
    reason="running as root: permission bits do not stop root's writes "
    "(test_root_in_a_read_only_location covers an unwritable root there)",
)
def test_root_without_write_permission(tmp_path):
    path = tmp_path / "locked"
    path.mkdir()
    path.chmod(0o500)
    try:
        with pytest.raises(ServerError) as err:
            FaultServer(Settings(root=path, port=0, passive_ports=None))
        assert "not writable" in assert_one_line_naming(err, path)
    finally:
        path.chmod(0o700)


def _sysfs_mounted() -> bool:
    try:
        with open("/proc/mounts") as mounts:
            return any(line.split()[1:3] == ["/sys", "sysfs"] for line in mounts)
    except OSError:
        return False


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not _sysfs_mounted(),
    reason="needs Linux with sysfs on /sys (a place nobody, not even root, can create a directory)",
)
def test_root_in_a_read_only_location():
    path = Path("/sys/ftpfault-reliability-test/root")
    with pytest.raises(ServerError) as err:
        FaultServer(Settings(root=path, port=0, passive_ports=None))
    assert_one_line_naming(err, path)
    assert not path.parent.exists()
