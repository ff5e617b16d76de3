"""Triggers on a live server: ``times=`` disarms the rule, ``every=`` fires on each Nth
transfer, a seeded ``chance=`` repeats its pattern run to run (whatever other rules sit
beside it), ``path=`` and ``user=`` pick the transfers and sessions, and they combine.

The same triggers on a bare board, sequence by sequence, are in tests/engine/test_board.py.
"""

from __future__ import annotations

import ftplib
import io
from pathlib import Path

import pytest

from tests.support.ftp import noop_ok
from tests.support.servers import DEADLINE, USER, connect, payload
from tui.engine.board import FaultBoard
from tui.engine.server import FaultServer
from tui.engine.settings import Settings


def upload_codes(ftp: ftplib.FTP, n: int, name: str = "t{}.bin") -> list[int]:
    codes = []
    for i in range(n):
        try:
            final = ftp.storbinary(f"STOR {name.format(i)}", io.BytesIO(payload(2000, seed=i)))
        except ftplib.error_temp as err:
            final = str(err)
        codes.append(int(final[:3]))
        noop_ok(ftp)
    return codes


def test_times_on_the_server_disarms_the_rule(server, ftp, root, recorder):
    rule = server.board.add("upload=451,times=2")
    assert upload_codes(ftp, 4) == [451, 451, 226, 226]
    assert server.board.get(rule.id).enabled is False
    stats = server.board.stats(rule.id)
    assert (stats.fired, stats.remaining) == (2, 0)
    assert [f.path for f in recorder.wait("fault", count=2)] == ["/t0.bin", "/t1.bin"]
    for i in range(4):
        assert (root / f"t{i}.bin").read_bytes() == payload(2000, seed=i)


def test_every_on_the_server(server, ftp, recorder):
    rule = server.board.add("upload=450,every=2")
    assert upload_codes(ftp, 6) == [226, 450] * 3
    assert (server.board.stats(rule.id).matched, server.board.fired(rule.id)) == (6, 3)


# --- chance= with a board seed repeats itself


def upload_pattern(root: Path, seed: int, specs: list[str], downloads: bool = False) -> str:
    """A fresh server whose board has ``seed`` and ``specs``; 20 uploads with ftplib, each
    'F' (451, the chance rule fired) or '.' (226). With ``downloads``, a RETR after each
    upload exercises the other rules in between."""
    root.mkdir()
    (root / "down.bin").write_bytes(b"down")
    board = FaultBoard(seed=seed)
    rules = [board.add(spec) for spec in specs]
    chance = rules[specs.index(CHANCE)]
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


def test_seeded_chance_is_reproducible_run_to_run(tmp_path):
    """The same seed gives the same pattern on every run, the one a bare board with that
    seed gives; another seed, another pattern."""
    first = upload_pattern(tmp_path / "one", 7, [CHANCE])
    board = FaultBoard(seed=7)
    rule = board.add(CHANCE)
    assert first == "".join("F" if board.fire(rule) else "." for _ in range(20))
    assert "F" in first and "." in first  # a real mix, not all or nothing
    assert upload_pattern(tmp_path / "two", 7, [CHANCE]) == first
    assert upload_pattern(tmp_path / "three", 8, [CHANCE]) != first


def test_seeded_chance_ignores_a_rule_added_after_it(tmp_path):
    alone = upload_pattern(tmp_path / "one", 7, [CHANCE])
    # other chance rules, added later: one for downloads drawing from its own stream in
    # between, one for uploads whose path= never matches these uploads
    with_other = upload_pattern(tmp_path / "two", 7, [CHANCE, "upload=452,chance=0.5,path=*.none",
                                                      OTHER], downloads=True)

    assert with_other == alone


def test_seeded_chance_ignores_a_rule_added_before_it(tmp_path):
    """(The stream used to be seeded with the rule's id: a rule added first made it r2.)"""
    alone = upload_pattern(tmp_path / "one", 7, [CHANCE])
    with_other = upload_pattern(tmp_path / "two", 7, [OTHER, CHANCE])

    assert with_other == alone


# --- path= and user=, and all of them together


def test_path_trigger_on_the_file_name(server, ftp, root, recorder):
    (root / "keep.txt").write_bytes(b"t")
    (root / "disc.iso").write_bytes(b"i")
    server.board.add("upload=451,path=*.bin")
    server.board.add("download=450,path=*.iso")
    assert ftp.storbinary("STOR a.txt", io.BytesIO(b"x")).startswith("226")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        ftp.storbinary("STOR b.bin", io.BytesIO(b"x"))
    assert ftp.retrbinary("RETR keep.txt", lambda b: None).startswith("226")
    with pytest.raises(ftplib.error_temp, match="^450 "):
        ftp.retrbinary("RETR disc.iso", lambda b: None)
    noop_ok(ftp)
    assert [(f.point, f.path) for f in recorder.wait("fault", count=2)] == [
        ("upload", "/b.bin"), ("download", "/disc.iso")]


@pytest.fixture
def anon_server(root):
    with FaultServer(Settings(root=root, port=0, passive_ports=None, anonymous=True)) as srv:
        yield srv


def test_user_trigger(anon_server, root):
    server = anon_server
    (root / "f.bin").write_bytes(b"abc")
    server.board.add(f"download=450,user={USER}")
    server.board.add("login=530,user=anonymous")
    user = connect(server)
    with pytest.raises(ftplib.error_temp, match="^450 "):
        user.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(user)
    anon = ftplib.FTP(timeout=DEADLINE)
    anon.connect("127.0.0.1", server.port)
    with pytest.raises(ftplib.error_perm, match="^530 "):
        anon.login()
    noop_ok(anon)
    anon.close()
    user.close()
    # and the download rule spares anonymous (the login rule gone)
    server.board.remove(server.board.first("login").id)
    anon = ftplib.FTP(timeout=DEADLINE)
    anon.connect("127.0.0.1", server.port)
    anon.login()
    got = bytearray()
    assert anon.retrbinary("RETR f.bin", got.extend).startswith("226") and got == b"abc"
    anon.quit()


def test_triggers_combine(server, ftp, root):
    rule = server.board.add("upload=451,path=*.bin,every=2,times=2")
    outcomes = []
    for name in ("a.bin", "b.txt", "c.bin", "d.bin", "e.bin", "f.bin", "g.bin"):
        try:
            ftp.storbinary(f"STOR {name}", io.BytesIO(b"x"))
            outcomes.append(226)
        except ftplib.error_temp:
            outcomes.append(451)
        noop_ok(ftp)
    # *.bin matches: a c d e f g -> every 2nd fires: c, e; then times ran out
    assert outcomes == [226, 226, 451, 226, 451, 226, 226]
    assert server.board.get(rule.id).enabled is False
    assert server.board.stats(rule.id).matched == 4


# --- client= and session= (for= on a live server: test_connect_and_any.py's outage)


def test_session_trigger(server, root):
    rule = server.board.add("upload=451,session=2")
    first, second = connect(server), connect(server)
    assert first.storbinary("STOR a.bin", io.BytesIO(b"a")).startswith("226")
    with pytest.raises(ftplib.error_temp, match="^451 "):
        second.storbinary("STOR b.bin", io.BytesIO(b"b"))
    noop_ok(second)
    assert server.board.stats(rule.id).matched == 1  # session 1 was not asked
    first.quit()
    second.quit()


def test_client_trigger_by_the_address_a_client_comes_from(server, root):
    (root / "f.bin").write_bytes(b"abc")
    server.board.add("download=450,client=127.0.0.2")
    near = ftplib.FTP(timeout=DEADLINE, source_address=("127.0.0.2", 0))
    near.connect("127.0.0.1", server.port)
    near.login(USER, "testpass")
    with pytest.raises(ftplib.error_temp, match="^450 "):
        near.retrbinary("RETR f.bin", lambda b: None)
    noop_ok(near)
    near.quit()
    plain = connect(server)  # from 127.0.0.1
    assert plain.retrbinary("RETR f.bin", lambda b: None).startswith("226")
    plain.quit()
