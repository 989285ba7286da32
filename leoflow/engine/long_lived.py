"""Keep Python's cyclic garbage collector off the scheduler's long-lived state.

100,000 deferred sensors mean 100,000 run views, trigger records and rows in memory for
minutes or hours. Every full collection walks all of them although none is garbage: at
30,000 sensors the collector alone doubled the firing lateness p99 (docs/triggerer.md).
``gc.freeze()`` moves every object alive now into a permanent generation the collector no
longer walks; objects still die by reference counting as usual. So the scheduler freezes
once the state it holds has grown by ``step`` entries since the last freeze.

Once the state has shrunk to half of what it was at the last freeze, what it holds now is
frozen again as the new reference (objects that died meanwhile were freed by reference
counting, frozen or not); once fewer than ``step`` entries remain, everything is given back
to the collector, whose next full collection walks little and frees the cyclic garbage
frozen with the state. This policy first gave everything back at the halving; but the next
batch, still holding a step's worth, froze it all again before any full collection had run
(at 30,000 sensors: 3 unfreezes and 3 freezes in the firing window, no full collection), so
that gave nothing back. Collecting at the halving instead (unfreeze, ``gc.collect()``,
freeze) was measured too: one pause of 0.31 s at 30,000 sensors (15,000 still waiting),
which grows with what is left (half of 100,000 would be about a second, in the middle of
the firing window), to free cyclic garbage the run views hardly make.

``gc.freeze()`` and ``gc.unfreeze()`` are O(1) list splices in CPython; the policy costs a
comparison per batch.
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
        self.refreezes = 0  # halvings with a step or more left: frozen again

    def note(self, held: int) -> None:
        """``held``: how many long-lived entries the scheduler holds now (deferred
        triggers, run views)."""
        if held >= self.frozen_at + self.step:
            gc.freeze()
            self.frozen_at = held
            self.freezes += 1
            log.debug("froze %d objects (%d entries held)", gc.get_freeze_count(), held)
        elif self.frozen_at and held < self.frozen_at // 2:
            if held >= self.step:  # still worth keeping out of the collector's walks
                gc.freeze()  # what was allocated since the last freeze, too
                self.frozen_at = held
                self.refreezes += 1
            else:
                self.release()

    def release(self) -> None:
        """Give every frozen object back to the collector (at stop, or once most died)."""
        if self.frozen_at:
            gc.unfreeze()
            self.frozen_at = 0
            self.unfreezes += 1
