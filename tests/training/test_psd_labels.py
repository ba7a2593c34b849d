"""PSD fixtures (psd-tools' own test files, MIT, tests/data/psd_labels) -> labels.

The expected label is built independently of the labeller: each visible leaf's raw pixel alpha
(`topil`) is pasted at its bounding box (clipped to the canvas), thresholded at 10 %, bottom to top.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from psd_tools import PSDImage

from training.psd_labels import PsdError, label_psd

DATA = Path(__file__).resolve().parents[1] / "data" / "psd_labels"


def expected_from_layers(path: Path, names: list[str]) -> np.ndarray:
    """Label from the named layers' own pixels, in the given bottom-to-top order."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        psd = PSDImage.open(path)
        layers = {layer.name: layer for layer in psd.descendants()}
        label = np.zeros((psd.height, psd.width), dtype=np.uint16)
        for rank, name in enumerate(names, start=1):
            layer = layers[name]
            alpha = np.asarray(layer.topil().convert("RGBA"))[..., 3]
            x0, y0, x1, y1 = layer.bbox
            cx0, cy0 = max(0, x0), max(0, y0)
            cx1, cy1 = min(psd.width, x1), min(psd.height, y1)
            crop = alpha[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
            region = label[cy0:cy1, cx0:cx1]
            region[crop >= 26] = rank
    return label


@pytest.mark.parametrize(
    ("name", "layers"),
    [
        ("2layers.psd", ["Фон", "Слой"]),
        ("hidden-groups.psd", ["Background", "Shape 2"]),  # Group 1 (Shape 1) is hidden
        ("hidden-layer.psd", ["Background", "Shape 1"]),  # Shape 2 is hidden
        ("semi-transparent-layers.psd", ["Background", "Rectangle 1", "Layer 1"]),
    ],
)
def test_psd_labels_equal_visible_leaf_layers(name: str, layers: list[str]) -> None:
    result = label_psd(DATA / name)
    expected = expected_from_layers(DATA / name, layers)
    np.testing.assert_array_equal(result.label, expected)
    assert result.visible_pieces == len(layers) == result.pieces
    assert result.rgb.dtype == np.uint8 and result.rgb.shape == (*expected.shape, 3)


def test_semi_transparent_layer_owns_only_above_ten_percent() -> None:
    result = label_psd(DATA / "semi-transparent-layers.psd")
    psd = PSDImage.open(DATA / "semi-transparent-layers.psd")
    layer = next(lay for lay in psd.descendants() if lay.name == "Layer 1")
    alpha = np.asarray(layer.topil().convert("RGBA"))[..., 3]
    x0, y0 = layer.bbox[:2]
    faint = np.argwhere((alpha > 0) & (alpha < 26))
    assert len(faint) > 0
    for y, x in faint[:50]:
        assert result.label[y0 + y, x0 + x] != 3


def test_psd_fitted_to_square_keeps_aspect_and_pads() -> None:
    native = label_psd(DATA / "hidden-groups.psd")  # 100 x 200 (W x H)
    fitted = label_psd(DATA / "hidden-groups.psd", size=64)
    assert fitted.label.shape == (64, 64) and fitted.rgb.shape == (64, 64, 3)
    assert (fitted.label[:, :16] == 0).all() and (fitted.label[:, 48:] == 0).all()
    assert (fitted.rgb[:, :16] == 255).all()
    assert (fitted.label[:, 16:48] >= 1).all()
    assert set(np.unique(fitted.label)) == set(np.unique(native.label)) | {0}


def test_unreadable_psd_error_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.psd"
    bad.write_bytes(b"8BPS not really a psd")
    with pytest.raises(PsdError, match="broken.psd: cannot read PSD") as info:
        label_psd(bad)
    assert "\n" not in str(info.value)
