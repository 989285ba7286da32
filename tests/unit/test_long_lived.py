"""The scheduler's freeze policy (engine/long_lived.py): the long-lived state is moved out
of the cyclic collector's walks as it grows, kept out while it shrinks, and given back once
it is small."""

from __future__ import annotations

import gc
import weakref

from leoflow.engine.long_lived import LongLived


class Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the cyclic collector frees it


def test_freezes_as_the_state_grows_and_gives_it_back_when_it_shrinks() -> None:
    policy = LongLived(step=100)
    try:
        policy.note(50)
        assert gc.get_freeze_count() == 0 and policy.freezes == 0
        held = [Node() for _ in range(1000)]
        policy.note(120)
        assert policy.freezes == 1
        assert gc.get_freeze_count() >= 1000  # the views alive now are frozen
        policy.note(150)  # not a step more: nothing new
        assert policy.freezes == 1
        policy.note(220)
        assert policy.freezes == 2
        policy.note(111)  # more than half of what was held at the last freeze
        assert policy.unfreezes == 0
        del held
        policy.note(99)  # under half, and under a step: nothing is frozen any more
        assert policy.unfreezes == 1 and gc.get_freeze_count() == 0
        assert policy.frozen_at == 0
    finally:
        policy.release()
        gc.unfreeze()


def _walked(objects: list[Node]) -> int:
    """How many of ``objects`` the cyclic collector walks (frozen ones it does not)."""
    tracked = {id(o) for o in gc.get_objects()}  # generations 0-2, not the frozen
    return sum(id(o) in tracked for o in objects)


def test_the_state_left_after_halving_stays_out_of_the_collectors_walks() -> None:
    """Half the state gone, the rest (still a step or more) stays frozen, and what was
    allocated since is frozen with it: no full collection takes the remaining state back
    in the middle of the firing window (each such walk is a pause proportional to it).
    Under a step, everything is given back and the garbage frozen with it is freed."""
    policy = LongLived(step=100)
    try:
        gc.collect()
        kept = [Node() for _ in range(1000)]
        gone = [weakref.ref(node) for node in [Node() for _ in range(1000)]]
        policy.note(400)
        assert policy.freezes == 1 and _walked(kept) == 0
        later = [Node() for _ in range(1000)]
        assert _walked(later) == len(later)
        policy.note(150)  # under half of 400, still more than a step
        assert policy.refreezes == 1 and policy.unfreezes == 0 and policy.frozen_at == 150
        gc.collect()
        assert _walked(kept) == 0 and _walked(later) == 0  # all of it frozen
        assert all(ref() is not None for ref in gone)  # frozen cycles: not freed yet
        policy.note(70)  # under half again, and under a step: given back, not refrozen
        assert policy.unfreezes == 1 and policy.frozen_at == 0 and policy.refreezes == 1
        assert _walked(kept) == len(kept)
        gc.collect()
        assert all(ref() is None for ref in gone)
    finally:
        policy.release()
        gc.unfreeze()


def test_cyclic_garbage_frozen_with_the_state_is_freed_once_released() -> None:
    policy = LongLived(step=1)
    try:
        gc.collect()
        garbage = [weakref.ref(node) for node in [Node() for _ in range(100)]]
        policy.note(10)
        assert gc.collect() < 100  # frozen: not walked, not freed
        assert all(ref() is not None for ref in garbage)
        policy.note(0)
        assert gc.collect() >= 100
        assert all(ref() is None for ref in garbage)
    finally:
        policy.release()
        gc.unfreeze()
