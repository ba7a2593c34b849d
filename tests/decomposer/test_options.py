"""DecomposeOptions: validation on construction, keyword overrides, the resume-key fields."""

from __future__ import annotations

import numpy as np
import pytest

from decomposer import DecomposeOptions, decompose
from decomposer.batch import RunOptions
from decomposer.errors import InvalidOptionError
from decomposer.options import resolve_options


@pytest.mark.parametrize(
    "bad",
    [
        {"layers": 0},
        {"layers": True},
        {"layers": "many"},
        {"layers": 2.5},
        {"ordering": "random"},
        {"completion": "magic"},
        {"tau": -0.1},
        {"tau": "x"},
        {"max_pixels": 0},
        {"regions": {"lab_step": 3}},
    ],
)
def test_invalid_values_raise_invalid_option_error(bad: dict) -> None:
    with pytest.raises(InvalidOptionError):
        DecomposeOptions(**bad)


def test_values_are_normalised() -> None:
    opts = DecomposeOptions(layers=np.int64(4), tau=0, max_pixels=np.int32(10))
    assert opts.layers == 4 and type(opts.layers) is int
    assert opts.tau == 0.0 and type(opts.tau) is float
    assert type(opts.max_pixels) is int
    assert DecomposeOptions(layers=" Auto ").layers == "auto"


def test_overrides_apply_and_unknown_names_are_refused() -> None:
    base = DecomposeOptions(layers=3)
    assert resolve_options(base, {"completion": "none"}) == DecomposeOptions(
        layers=3, completion="none"
    )
    assert resolve_options(None, {}) == DecomposeOptions()
    with pytest.raises(InvalidOptionError, match="unknown option.*colour"):
        resolve_options(base, {"colour": 1})


def test_key_fields_track_what_changes_the_layers() -> None:
    base = DecomposeOptions()
    assert base.key_fields() != base.replace(layers=3).key_fields()
    assert base.key_fields() != base.replace(tau=0.1).key_fields()
    # the pixel limit decides acceptance, not the result
    assert base.key_fields() == base.replace(max_pixels=5).key_fields()
    run = RunOptions(decompose=base.replace(completion="none"))
    assert run.key_fields()["completion"] == "none"


def test_decompose_accepts_options_object_and_overrides() -> None:
    rgb = np.zeros((24, 24, 3), np.uint8)
    rgb[6:18, 6:18] = (255, 0, 0)
    index = np.zeros((24, 24), np.float32)
    index[6:18, 6:18] = 1.0
    opts = DecomposeOptions(layers=2, completion="none")
    dec = decompose(rgb, opts, index_map=index)
    assert len(dec.layers) == 2 and dec.info["completion"] == "none"
    dec1 = decompose(rgb, opts, index_map=index, layers=1)
    assert len(dec1.layers) == 1
    with pytest.raises(InvalidOptionError):
        decompose(rgb, opts, index_map=index, layers=0)
