"""The console in a real terminal: tmux, typed keys, and the screen as a person reads it."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

from .servers import DEADLINE, wait_until


class TmuxConsole:
    """``ftpfault`` in a tmux terminal of its own; the exit status lands in a file."""

    def __init__(self, tmp_path, port: int, python: tuple[str, ...] = ("-m", "tui"),
                 size: tuple[int, int] = (140, 40), args: tuple[str, ...] = ()) -> None:
        self.socket = f"ftpfault-test-{os.getpid()}-{port}"
        self.status_file = tmp_path / "exit-status"
        command = " ".join(shlex.quote(a) for a in (
            sys.executable, *python, "--port", str(port), "--root", str(tmp_path / "root"), *args))
        script = f"{command}; echo $? > {shlex.quote(str(self.status_file))}; sleep 60"
        # Textual draws on stderr: it stays on the terminal
        self.tmux("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), script)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                                text=True, timeout=DEADLINE)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def wait_for(self, text: str) -> str:
        last = ""

        def shown():
            nonlocal last
            last = self.screen()
            return text in last and last

        try:
            return wait_until(shown, what=f"{text!r} on the screen")
        except BaseException:
            print(f"--- the screen was:\n{last}")
            raise

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", *keys)

    def exit_status(self) -> int:
        return int(wait_until(lambda: self.status_file.exists() and self.status_file.read_text().strip(),
                              what="the console to exit"))

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, timeout=DEADLINE)
