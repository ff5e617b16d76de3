"""What the bus emits is a frozen Event like any other (it is built faster, as a draft of
the same layout): same type, equal to Event(...) with the same fields, immutable, and
every field that was not given at its default."""

from __future__ import annotations

import dataclasses

import pytest

from tui.engine.events import Event, EventBus


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
