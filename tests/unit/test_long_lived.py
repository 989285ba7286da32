"""The scheduler's freeze policy (engine/long_lived.py): the long-lived state is moved out
of the cyclic collector's walks as it grows, and given back once most of it is gone."""

from __future__ import annotations

import gc

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
        policy.note(100)  # under half: the collector may walk (and free) them again
        assert policy.unfreezes == 1 and gc.get_freeze_count() == 0
    finally:
        policy.release()
        gc.unfreeze()


def test_cyclic_garbage_frozen_with_the_state_is_freed_once_released() -> None:
    policy = LongLived(step=1)
    try:
        gc.collect()
        garbage = [Node() for _ in range(100)]
        policy.note(10)
        del garbage
        assert gc.collect() < 100  # frozen: not walked, not freed
        policy.note(1)
        assert gc.collect() >= 100
    finally:
        policy.release()
        gc.unfreeze()
