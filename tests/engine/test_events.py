"""What the bus emits is a frozen Event like any other (it is built faster, as a draft of
the same layout): same type, equal to Event(...) with the same fields, immutable, and
every field that was not given at its default. The history gives back the events emitted,
filtered as asked, and a long one costs the garbage collector nothing."""

from __future__ import annotations

import dataclasses
import gc

import pytest

from tui.engine.events import PROGRESS, Event, EventBus, EventHistory


def test_emitted_events_are_frozen_events_equal_to_made_ones():
    bus = EventBus()
    feed = bus.subscribe()
    emitted = bus.emit("reply", 3, code=226, message="Transfer complete.", cwd="/", lines=("a",))
    assert type(emitted) is Event
    assert feed.drain() == [emitted]
    made = Event(emitted.seq, emitted.time, "reply", 3, code=226, message="Transfer complete.",
                 cwd="/", lines=("a",))
    assert emitted == made and hash(emitted) == hash(made) and repr(emitted) == repr(made)
    with pytest.raises(dataclasses.FrozenInstanceError):
        emitted.code = 451
    assert dataclasses.replace(emitted, code=451).code == 451
    defaults = Event(0, 0.0, "")
    for f in dataclasses.fields(Event):
        if f.name not in ("seq", "time", "kind", "session", "code", "message", "cwd", "lines"):
            assert getattr(emitted, f.name) == getattr(defaults, f.name), f.name


def test_a_field_that_does_not_exist_is_refused():
    with pytest.raises(TypeError):
        EventBus().emit("reply", 1, colour="red")


def test_the_history_gives_back_what_was_emitted_after_a_seq():
    bus = EventBus()
    history = EventHistory(bus, maxlen=5)
    emitted = [bus.emit("command", 1 + i % 2, command="RETR", arg=f"f{i}") for i in range(4)]
    bus.emit(PROGRESS, 1, bytes=10)  # the live view's, not the history's
    emitted += [bus.emit("reply", 2, code=226, message="ok", lines=("a", "b"))]
    emitted += [bus.emit("run", 0, settings={"port": 21}, rules=("upload=426",))]
    assert history.since() == emitted[-5:]  # (the oldest one went: maxlen)
    assert history.since(emitted[3].seq) == emitted[4:]
    assert history.since(0, "command") == emitted[1:4]
    assert history.since(0, session=2) == [emitted[1], emitted[3], emitted[4]]
    assert all(type(e) is Event for e in history.since())


def test_a_long_history_leaves_the_garbage_collector_nothing_to_walk():
    """An Event is an object the collector walks on every full pass; the history's
    records are plain data it stops tracking."""
    bus = EventBus()
    history = EventHistory(bus, maxlen=20_000)
    gc.collect()
    before = len(gc.get_objects())
    for i in range(20_000):
        bus.emit("reply", 1, code=226, message="Transfer complete.", cwd="/", lines=("x", "y"))
    gc.collect()
    assert len(gc.get_objects()) - before < 100
    assert len(history.since()) == 20_000
