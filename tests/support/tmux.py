"""The console in a real terminal: tmux, typed keys, and the screen as a person reads it."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import uuid

from .servers import DEADLINE, wait_until


class TmuxConsole:
    """``ftpfault`` in a tmux terminal of its own, on a port it picks (``--port 0``: a port
    picked before it starts could be taken meanwhile); the exit status lands in a file."""

    def __init__(self, tmp_path, python: tuple[str, ...] = ("-m", "tui"),
                 size: tuple[int, int] = (140, 40), args: tuple[str, ...] = ()) -> None:
        self.socket = f"ftpfault-test-{uuid.uuid4().hex}"
        self._port: int | None = None
        self.status_file = tmp_path / "exit-status"
        argv = (sys.executable, *python, "--port", "0", "--root", str(tmp_path / "root"), *args)
        command = " ".join(shlex.quote(a) for a in argv)
        # for pgrep -f: anchored, since tmux and the shell around it have the same words
        self.pattern = "^" + " ".join(argv[:6])
        width, height = str(size[0]), str(size[1])
        # The terminal has its size before the console asks for it: a new tmux pane may be
        # 0x0 for a moment (read as 80x24), and the resize that follows can come before the
        # console listens for one. Textual draws on stderr: it stays on the terminal.
        script = (f"stty cols {width} rows {height}; {command}; "
                  f"echo $? > {shlex.quote(str(self.status_file))}; sleep 60")
        self.tmux("-f", "/dev/null", "new-session", "-d", "-x", width, "-y", height, script)

    def tmux(self, *args: str) -> str:
        result = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True,
                                text=True, timeout=DEADLINE)
        assert result.returncode == 0, result.stderr
        return result.stdout

    @property
    def port(self) -> int:
        """The FTP port, as the header shows it (waits for the header)."""
        if self._port is None:
            header = self.wait_for("ftp://127.0.0.1:")
            self._port = int(re.search(r"ftp://127\.0\.0\.1:(\d+)/", header).group(1))
        return self._port

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p")

    def wait_for(self, text: str) -> str:
        return self.wait_for_screen(lambda screen: text in screen, f"{text!r} on the screen")

    def wait_for_screen(self, check, what: str) -> str:
        """The first screen that passes ``check``; the last one seen is printed on a timeout."""
        last = ""

        def shown():
            nonlocal last
            last = self.screen()
            return check(last) and last

        try:
            return wait_until(shown, what=what)
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
