"""The configuration reference lists every setting with its flag, variable and default."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from rxstream.settings import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("name", [f.name for f in fields(Settings)])
def test_every_setting_is_documented(name: str) -> None:
    row = next((line for line in (DOCS / "configuration.md").read_text().splitlines()
                if line.startswith(f"| `{name}` |")), None)
    assert row is not None, f"docs/configuration.md has no row for {name}"
    assert f"`--{name.replace('_', '-')}`" in row and f"`RXSTREAM_{name.upper()}`" in row


def test_pipeline_settings_reach_the_engine_of_the_server() -> None:
    from rxstream.wiring import engine_backend

    backend = engine_backend(Settings.load(env={"RXSTREAM_PIPELINE_SETTINGS": "ma_fast=10,label=fx"}))
    assert backend.engine.settings["ma_fast"] == 10 and backend.engine.settings["label"] == "fx"
