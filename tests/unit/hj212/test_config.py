"""The HJ 212 server's configuration from the `WQMON_HJ212_*` settings."""

from __future__ import annotations

import pytest

from wqmon.drivers.hj212.config import Hj212Config
from wqmon.settings import Settings


def test_listen_backlog_defaults_to_4096() -> None:
    assert Hj212Config.from_settings(Settings()).backlog == 4096


def test_listen_backlog_comes_from_wqmon_hj212_backlog(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WQMON_HJ212_BACKLOG", "16384")
    assert Hj212Config.from_settings(Settings()).backlog == 16384
