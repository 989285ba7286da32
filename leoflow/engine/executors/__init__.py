"""Executors: what starts one task instance's try somewhere and reports how it went."""

from leoflow.engine.executors.base import Executor, ExecutorEvent, TaskLaunch

__all__ = ["Executor", "ExecutorEvent", "TaskLaunch"]
