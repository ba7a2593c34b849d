"""Shared fixtures for the model tests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def depth_pro_manifest() -> dict:
    """Apple Depth Pro state_dict manifest (keys, shapes, dtypes; no weights)."""
    return json.loads((DATA / "depth_pro_state_dict.json").read_text(encoding="utf-8"))
