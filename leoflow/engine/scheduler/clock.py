"""The engine's clock moved to ``leoflow.engine.clock`` (below both the scheduler and the
trigger runner, so that the runner imports nothing of the scheduler that owns it). This name
stays for importers not yet updated (the operations service)."""

from leoflow.engine.clock import Clock, ManualClock, SystemClock, Timer

__all__ = ["Clock", "ManualClock", "SystemClock", "Timer"]
