"""Zygotes are on unless LEOFLOW_ZYGOTE says 0 (agent/zygote_client.enabled)."""

from __future__ import annotations

import pytest

from leoflow.agent.zygote_client import enabled


@pytest.mark.parametrize("value", [None, "", "1", "true", "on", "yes", " 1 "])
def test_on_by_default_and_when_asked(value: str | None) -> None:
    assert enabled({} if value is None else {"LEOFLOW_ZYGOTE": value})


@pytest.mark.parametrize("value", ["0", "false", "off", "no", " OFF "])
def test_zero_turns_zygotes_off(value: str) -> None:
    assert not enabled({"LEOFLOW_ZYGOTE": value})
