"""The file system as clients see it: pyftpdlib's AbstractedFS with two changes.

- A listing shows a symlink by its name only: ``link -> /home/someone/outside`` would tell
  a client where things live outside the root.
- With a partial suffix (``--partial-suffix .part``), a new upload is written under
  ``NAME.part`` and renamed to NAME only when it completed, as many servers do; a cut or
  stopped upload keeps the suffix, so it never passes for a whole file.
"""

from __future__ import annotations

from pyftpdlib.filesystems import AbstractedFS


class FaultFS(AbstractedFS):
    partial_suffix = ""  # set per server
    readlink = None  # format_list() shows a link's target only when it can read one

    def open(self, filename: str, mode: str):
        if self.partial_suffix and mode.startswith("w"):  # a new STOR (not APPE, not REST)
            filename += self.partial_suffix
        return super().open(filename, mode)

    def final_name(self, file) -> str:
        """The name an open file has once its upload is complete: without the partial
        suffix open() gave it (a file that merely ends in the suffix keeps its name)."""
        name, suffix = file.name, self.partial_suffix
        given = suffix and file.mode.startswith("w") and name.endswith(suffix)
        return name[:-len(suffix)] if given else name
