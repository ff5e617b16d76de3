"""The file system as clients see it: pyftpdlib's AbstractedFS with three changes.

- A listing shows a symlink by its name only: ``link -> /home/someone/outside`` would tell
  a client where things live outside the root.
- With a partial suffix (``--partial-suffix .part``), a new upload is written under
  ``NAME.part`` and renamed to NAME only when it completed, as many servers do; a cut or
  stopped upload keeps the suffix, so it never passes for a whole file.
- With ``--list-format dos``, LIST lines are IIS's (``MM-DD-YY  HH:MMAM  <DIR>|SIZE  NAME``)
  instead of ``ls -l``'s; NLST and MLSD are the same either way.

And one for speed: ``realpath`` (which pyftpdlib's ``validpath`` calls twice per path, and
``fs2ftp`` through it) resolves only the part of a path below the root, with the root's own
real path found once per session: the same answer as ``os.path.realpath``, without an
``lstat`` of every directory above the root on every command.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator

from pyftpdlib.filesystems import AbstractedFS


def dos_line(name: str, st: os.stat_result, timefunc=time.gmtime) -> str:
    """One LIST line as IIS writes it: the date and time, <DIR> or the size, the name."""
    when = time.strftime("%m-%d-%y  %I:%M%p", timefunc(st.st_mtime))
    size = "<DIR>".rjust(12).ljust(21) if stat.S_ISDIR(st.st_mode) else str(st.st_size).rjust(21)
    return f"{when}{size} {name}"


class FaultFS(AbstractedFS):
    partial_suffix = ""  # set per server
    list_format = "unix"  # set per server: unix or dos
    readlink = None  # format_list() shows a link's target only when it can read one

    def format_list(self, basedir: str, listing: list[str], ignore_err: bool = True) -> Iterator[bytes]:
        if self.list_format != "dos":
            yield from super().format_list(basedir, listing, ignore_err)
            return
        channel = self.cmd_channel
        timefunc = time.gmtime if channel.use_gmt_times else time.localtime
        for name in listing:
            try:
                st = self.lstat(os.path.join(basedir, name))
            except OSError:
                if ignore_err:
                    continue
                raise
            yield f"{dos_line(name, st, timefunc)}\r\n".encode(channel.encoding, channel.unicode_errors)

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
