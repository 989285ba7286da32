"""Liveness for the control plane, and its way to stop a try (cancelled, cleared, timed out)."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import grpc

from leoflow.agent.client import REJECTED, ControlPlaneClient, describe

DEFAULT_INTERVAL = 10.0


class StopSignal:
    """Set once when the try must end early; ``reason`` says who asked and why."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.reason = ""

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()


class Heartbeat:
    """Calls ``Heartbeat`` every ``interval`` seconds until stopped.

    A transient failure is only logged (the control plane decides when a silent agent is
    dead); an answer with ``stop`` or a rejected token sets the stop signal.
    """

    def __init__(self, client: ControlPlaneClient, interval: float, stop: StopSignal) -> None:
        self._client = client
        self._interval = interval if interval > 0 else DEFAULT_INTERVAL
        self._stop = stop
        self._task: asyncio.Task[None] | None = None
        self.beats = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="leoflow-heartbeat")

    async def _run(self) -> None:
        while not self._stop.is_set():
            await asyncio.sleep(self._interval)
            try:
                response = await self._client.heartbeat()
            except grpc.aio.AioRpcError as error:
                if error.code() in REJECTED:
                    self._stop.set(f"the control plane no longer accepts this try's token "
                                   f"({describe(error)})")
                    return
                print(f"leoflow-agent: heartbeat failed ({describe(error)})", file=sys.stderr,
                      flush=True)
                continue
            self.beats += 1
            if response.stop:
                self._stop.set(response.reason or "the control plane stopped this try")
                return

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
