"""FaultFS.realpath (the root's real path found once per session, only the part below it
resolved) gives what os.path.realpath gives, links, dots and missing files included."""

from __future__ import annotations

import itertools
import os

import pytest
from pyftpdlib.filesystems import AbstractedFS

from tui.engine.ftp.filesystem import FaultFS


@pytest.fixture
def tree(tmp_path):
    """A root reached through a link, with links inside it: to a file, a directory, up and
    out of the root, a dangling one, a loop."""
    real = tmp_path / "real-root"
    (real / "d" / "e").mkdir(parents=True)
    (real / "d" / "f.bin").write_bytes(b"x")
    (tmp_path / "outside").mkdir()
    os.symlink(real, tmp_path / "root")
    os.symlink("d/f.bin", real / "to-file")
    os.symlink("d", real / "to-dir")
    os.symlink("..", real / "d" / "up")
    os.symlink(tmp_path / "outside", real / "out")
    os.symlink("nowhere", real / "dangling")
    os.symlink("loop", real / "loop")
    return tmp_path


PARTS = ["d", "e", "f.bin", "to-file", "to-dir", "up", "out", "dangling", "loop", "missing", ".", ".."]


@pytest.mark.parametrize("given", ["root", "real-root"])
def test_the_same_answer_as_os_path_realpath(tree, given):
    root = str(tree / given)
    fs, plain = FaultFS(root, None), AbstractedFS(root, None)
    paths = [root, root + "/", str(tree), str(tree / "outside"), root + "x", root + "//d"]
    for n in (1, 2, 3):
        paths += [root + "/" + "/".join(p) for p in itertools.product(PARTS, repeat=n)]
    for path in paths:
        assert fs.realpath(path) == os.path.realpath(path), path
        assert fs.validpath(path) == plain.validpath(path), path


def test_the_root_is_resolved_once_per_session(tree, monkeypatch):
    fs = FaultFS(str(tree / "root"), None)
    calls = []
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p, **kw: calls.append(p) or real(p, **kw))
    for _ in range(5):
        fs.validpath(str(tree / "root" / "d" / "f.bin"))
    assert calls == [str(tree / "root")]
