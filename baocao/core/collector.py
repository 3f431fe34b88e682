"""Python's cyclic garbage collector, set for a long-running stream process.

The worker and the sink allocate container objects by the million (decoded records, their
dicts of indicators, output tuples) and make few reference cycles. With CPython's defaults a
young collection runs every 700 net allocations, and every hundredth one walks the whole
heap: the modules, the reference data, Faust. In ``bench.worker``'s step alone, switching the
collector off made it ~25% faster: that much of its CPU went to collections that found next
to nothing.

:func:`settle_heap` is called once start-up is done: it collects, *freezes* what start-up
left (never walked again; it lives as long as the process anyway), and lets the young
generation grow to :data:`YOUNG_THRESHOLD` allocations before a collection. Cycles are still
collected, only less often; the memory they hold in between is bounded by that threshold.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "settle_heap"]

#: Net container allocations between two young collections (CPython's default: 700).
YOUNG_THRESHOLD = 50_000


def settle_heap(*, young_threshold: int = YOUNG_THRESHOLD) -> None:
    """Collect, freeze everything alive, and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)
