"""``leoflow.app.lite_start``: packages imported in passing are run at their first use, and
the collector paused for a start is frozen and turned back on."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from leoflow.app.lite_start import StartCollector, deferred_imports, withheld_imports

PACKAGE = "leoflow_lite_start_probe"


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[Path]:
    """A package that counts how often its code ran (in ``RUNS`` of the ``builtins``)."""
    package = tmp_path / PACKAGE
    package.mkdir()
    (package / "__init__.py").write_text(
        "import builtins\n"
        "builtins.LEOFLOW_PROBE_RUNS = getattr(builtins, 'LEOFLOW_PROBE_RUNS', 0) + 1\n"
        "VALUE = 42\n", "utf-8")
    sys.path.insert(0, str(tmp_path))
    try:
        yield package
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop(PACKAGE, None)
        import builtins

        builtins.__dict__.pop("LEOFLOW_PROBE_RUNS", None)


def runs() -> int:
    import builtins

    return int(getattr(builtins, "LEOFLOW_PROBE_RUNS", 0))


def test_a_deferred_package_runs_at_its_first_use_only(probe: Path) -> None:
    with deferred_imports([PACKAGE]):
        module = __import__(PACKAGE)
    assert runs() == 0  # imported, not run
    assert module.VALUE == 42  # the first use runs it, once
    assert runs() == 1
    assert __import__(PACKAGE).VALUE == 42 and runs() == 1


def test_from_import_runs_the_package_at_once(probe: Path) -> None:
    with deferred_imports([PACKAGE]):
        exec(f"from {PACKAGE} import VALUE", {})
    assert runs() == 1


def test_outside_the_block_imports_are_as_usual(probe: Path) -> None:
    with deferred_imports([PACKAGE]):
        pass
    __import__(PACKAGE)
    assert runs() == 1
    assert not any(type(f).__name__ == "_LazyFinder" for f in sys.meta_path)


def test_a_withheld_package_is_missing_inside_the_block_and_usual_after(probe: Path) -> None:
    with withheld_imports([PACKAGE]):
        with pytest.raises(ModuleNotFoundError):
            __import__(PACKAGE)
        with pytest.raises(ModuleNotFoundError):
            __import__(f"{PACKAGE}.sub")
        __import__("json")  # others are untouched
    assert PACKAGE not in sys.modules and runs() == 0
    assert __import__(PACKAGE).VALUE == 42 and runs() == 1
    assert not any(type(f).__name__ == "_Withheld" for f in sys.meta_path)


NICEGUI_AS_LITE_IMPORTS_IT = """
import sys
from leoflow.app.lite_start import (CLIENT_ONLY_PACKAGES, MANAGER_ONLY_PACKAGES,
                                    deferred_imports, withheld_imports)
with deferred_imports(CLIENT_ONLY_PACKAGES), withheld_imports(MANAGER_ONLY_PACKAGES):
    import nicegui
    import socketio
left_out = sorted(n for n in ("redis", "opentelemetry.sdk.metrics", "psutil")
                  if n in sys.modules)
import redis
from redis import asyncio as aioredis
from redis.exceptions import RedisError
assert issubclass(aioredis.Redis, object) and issubclass(RedisError, Exception)
print(left_out, socketio.AsyncServer.__name__, redis.Redis.__name__)
"""


def test_nicegui_imports_without_redis_and_redis_imports_as_usual_after() -> None:
    import subprocess

    pytest.importorskip("nicegui")
    pytest.importorskip("redis")
    done = subprocess.run([sys.executable, "-c", NICEGUI_AS_LITE_IMPORTS_IT],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["[]", "AsyncServer", "Redis"]


def test_the_collector_is_paused_then_frozen_and_back_on() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    collector = StartCollector()
    collector.pause()
    try:
        assert not gc.isenabled()
        kept = [object() for _ in range(10)]
        collector.resume()
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        collector.resume()  # idempotent
        assert gc.isenabled() and kept
    finally:
        gc.enable()
        gc.unfreeze()
