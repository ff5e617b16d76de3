"""Many clients at once: 32 concurrent uploads with a fault armed or not, and a fault toggled
every millisecond while 8 clients upload. Each client gets one final reply per command,
the server's record of every reply is what that client read, nothing is lost on disk,
and the rule's counter is the number of faults the clients saw.
"""

from __future__ import annotations

import ftplib
import io
import threading
import time
from collections import Counter

import pytest

from tests.support.ftp import add_rule, address_of, session_for
from tests.support.servers import DEADLINE, connect, file_sha256, payload, sha256


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
