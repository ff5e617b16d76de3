"""The journal: every event appended to a JSON Lines file, flushed as it goes (safe to tail),
so a run can be attached to a bug report. Written by a thread of its own: the server never
waits for the disk."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from .events import PROGRESS, EventBus

FLUSH_INTERVAL = 0.1  # seconds between writes
QUEUE_SIZE = 200_000  # events buffered between writes before the oldest are dropped (and said so)


class Journal:
    def __init__(self, bus: EventBus, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", encoding="utf-8")
        except OSError as err:
            raise OSError(f"cannot write the journal {self.path}: {err.strerror}") from None
        self._bus = bus
        self._feed = bus.subscribe(maxlen=QUEUE_SIZE)
        self._stop = threading.Event()
        self._dropped = 0
        self._thread = threading.Thread(target=self._run, name="ftpfault-journal", daemon=True)

    def start(self) -> Journal:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        if not self._file.closed:
            self._write()
            self._bus.unsubscribe(self._feed)
            self._file.close()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL):
            self._write()

    def _write(self) -> None:
        lines = [json.dumps(e.to_dict()) for e in self._feed.drain() if e.kind != PROGRESS]
        if self._feed.dropped != self._dropped:
            lost = self._feed.dropped - self._dropped
            self._dropped = self._feed.dropped
            lines.append(json.dumps({"seq": None, "time": time.time(), "kind": "journal.dropped",
                                     "session": 0, "count": lost}))
        if lines and not self._file.closed:
            self._file.write("\n".join(lines) + "\n")
            self._file.flush()
