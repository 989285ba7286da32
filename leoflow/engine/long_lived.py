"""Keep Python's cyclic garbage collector off the scheduler's long-lived state.

100,000 deferred sensors mean 100,000 run views, trigger records and rows in memory for
minutes or hours. Every full collection walks all of them although none is garbage: at
30,000 sensors the collector alone doubled the firing lateness p99 (docs/triggerer.md).
``gc.freeze()`` moves every object alive now into a permanent generation the collector no
longer walks; objects still die by reference counting as usual. So the scheduler freezes
once the state it holds has grown by ``step`` entries since the last freeze, and unfreezes
once it has shrunk to half of what it was then (most of the frozen objects are gone: cyclic
garbage among them is collected again at the next full collection).

Both calls are O(1) list splices in CPython; the policy costs a comparison per batch.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("leoflow.scheduler.gc")

DEFAULT_STEP = 5_000


class LongLived:
    """The freeze policy of one process's scheduler (see the module docstring)."""

    def __init__(self, step: int = DEFAULT_STEP) -> None:
        self.step = step
        self.frozen_at = 0  # the state's size at the last freeze (0: nothing frozen)
        self.freezes = 0
        self.unfreezes = 0

    def note(self, held: int) -> None:
        """``held``: how many long-lived entries the scheduler holds now (deferred
        triggers, run views)."""
        if held >= self.frozen_at + self.step:
            gc.freeze()
            self.frozen_at = held
            self.freezes += 1
            log.debug("froze %d objects (%d entries held)", gc.get_freeze_count(), held)
        elif self.frozen_at and held < self.frozen_at // 2:
            self.release()

    def release(self) -> None:
        """Give every frozen object back to the collector (at stop, or once most died)."""
        if self.frozen_at:
            gc.unfreeze()
            self.frozen_at = 0
            self.unfreezes += 1
