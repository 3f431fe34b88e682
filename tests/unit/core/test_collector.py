"""The collector settings of the long-running processes (the worker and the sink)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from baocao.core.collector import YOUNG_THRESHOLD, settle_heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_what_is_alive_and_collects_the_young_less_often() -> None:
    _, middle, oldest = gc.get_threshold()

    settle_heap()

    assert gc.get_threshold() == (YOUNG_THRESHOLD, middle, oldest)
    assert gc.get_freeze_count() > 1000  # the modules, at least
    # A cycle made afterwards is still found by a collection.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
