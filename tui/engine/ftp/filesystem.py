"""The file system as clients see it: pyftpdlib's AbstractedFS with two changes.

- A listing shows a symlink by its name only: ``link -> /home/someone/outside`` would tell
  a client where things live outside the root.
- With a partial suffix (``--partial-suffix .part``), a new upload is written under
  ``NAME.part`` and renamed to NAME only when it completed, as many servers do; a cut or
  stopped upload keeps the suffix, so it never passes for a whole file.

And one for speed: ``realpath`` (which pyftpdlib's ``validpath`` calls twice per path, and
``fs2ftp`` through it) resolves only the part of a path below the root, with the root's own
real path found once per session: the same answer as ``os.path.realpath``, without an
``lstat`` of every directory above the root on every command.
"""

from __future__ import annotations

import os
import stat

from pyftpdlib.filesystems import AbstractedFS


class FaultFS(AbstractedFS):
    partial_suffix = ""  # set per server
    readlink = None  # format_list() shows a link's target only when it can read one

    def open(self, filename: str, mode: str):
        if self.partial_suffix and mode.startswith("w"):  # a new STOR (not APPE, not REST)
            filename += self.partial_suffix
        return super().open(filename, mode)

    _root_real: tuple[str, str] = ("", "")  # (root, its real path), kept per session

    def realpath(self, path: str) -> str:
        root, real = self._root_real
        if root != self.root:
            root, real = self.root, os.path.realpath(self.root)
            self._root_real = (root, real)
        if path == root:
            return real
        prefix = root if root.endswith("/") else root + "/"
        if not (isinstance(path, str) and path.startswith(prefix)):
            return os.path.realpath(path)
        # os.path.realpath resolves left to right: the root part resolves to ``real``, then
        # each part below it is a link to follow or not (a part that cannot be read is not)
        current = real.rstrip("/")
        for part in path[len(prefix):].split("/"):
            if part in ("", ".", ".."):
                return os.path.realpath(path)  # not a plain path: the full resolution
            current += "/" + part
            try:
                is_link = stat.S_ISLNK(os.lstat(current).st_mode)
            except OSError:
                is_link = False
            if is_link:
                return os.path.realpath(path)
        return current

    def final_name(self, file) -> str:
        """The name an open file has once its upload is complete: without the partial
        suffix open() gave it (a file that merely ends in the suffix keeps its name)."""
        name, suffix = file.name, self.partial_suffix
        given = suffix and file.mode.startswith("w") and name.endswith(suffix)
        return name[:-len(suffix)] if given else name
