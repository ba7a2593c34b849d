"""Public API: decompose / predict_index / load_model, progress and cancellation, option errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from psd_tools import PSDImage

import decomposer
import model
from decomposer import (
    STAGES,
    Cancelled,
    ImageLoadError,
    InvalidOptionError,
    ModelLoadError,
    decompose,
    layer_names,
    load_model,
    predict_index,
)

COLOURS = [
    (250, 250, 245),
    (200, 30, 30),
    (30, 150, 40),
    (30, 40, 200),
    (240, 200, 20),
    (120, 40, 160),
    (20, 20, 20),
    (250, 140, 180),
]


def _bands(size: int = 96, count: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Nested rectangles of `count` distinct flat colours, anti-aliased borders (half-coverage
    ring around each), index map = nesting depth + noise (inner = front)."""
    rgb = np.zeros((size, size, 3), float)
    index = np.zeros((size, size), np.float32)
    for k in range(count):
        a = 4 * k
        rgb[a : size - a, a : size - a] = COLOURS[k]
        index[a : size - a, a : size - a] = k
    # anti-aliasing: average each pixel with its right neighbour on the diagonal-free edges
    smooth = rgb.copy()
    smooth[:, 1:] = 0.5 * (rgb[:, 1:] + rgb[:, :-1])
    rgba = np.empty((size, size, 4), np.uint8)
    rgba[..., :3] = np.rint(smooth).astype(np.uint8)
    rgba[..., 3] = 255
    index += np.random.default_rng(0).normal(0, 0.05, index.shape).astype(np.float32)
    return rgba, index


def test_layers_6_gives_6_ordered_named_layers() -> None:
    rgba, index = _bands()
    dec = decompose(rgba, layers=6, index_map=index, ordering="median")
    assert dec.info["regions"] >= 6
    assert len(dec.layers) == 6 and dec.info["layers"] == 6
    assert [layer.name for layer in dec.layers] == [
        "Layer 1 (back)",
        "Layer 2",
        "Layer 3",
        "Layer 4",
        "Layer 5",
        "Layer 6 (front)",
    ]
    indices = [layer.index for layer in dec.layers]
    assert indices == sorted(indices)
    assert dec.canvas_size == (96, 96)
    assert dec.index_map.dtype == np.float32 and dec.index_map.shape == (96, 96)
    assert (dec.source_rgba == rgba).all()
    assert (dec.composite() == rgba).all()
    for layer in dec.layers:
        assert layer.rgba.dtype == np.uint8 and layer.rgba.ndim == 3
        assert 0.0 <= layer.invented_fraction <= 1.0
    # the innermost colour is in the front layer, the outermost in the back one
    front, back = dec.layers[-1], dec.layers[0]
    fx, fy = front.offset
    assert tuple(front.rgba[48 - fy, 48 - fx, :3]) == COLOURS[7]
    assert tuple(back.rgba[0, 0, :3]) == COLOURS[0] and back.offset == (0, 0)


def test_fewer_regions_than_requested_is_reported() -> None:
    rgba, index = _bands(count=3)
    dec = decompose(rgba, layers=6, index_map=index)
    assert len(dec.layers) == 3
    assert any("only 3 flat-colour region" in w for w in dec.info["warnings"])
    assert [layer.name for layer in dec.layers] == ["Layer 1 (back)", "Layer 2", "Layer 3 (front)"]


def test_auto_layer_count_is_reported_with_its_criterion() -> None:
    rgba, index = _bands()
    dec = decompose(rgba, layers="auto", index_map=index)
    assert dec.info["layers"] == len(dec.layers) >= 2
    assert "variance" in dec.info["layers_criterion"]
    assert (dec.composite() == rgba).all()


def test_path_input_and_native_resolution(tmp_path: Path) -> None:
    rgba, _ = _bands(size=90)
    wide = np.concatenate([rgba, rgba[:, :40]], axis=1)  # 130 x 90, not square
    path = tmp_path / "art.png"
    Image.fromarray(wide[..., :3]).save(path)
    index = np.tile(np.linspace(0, 1, 130, dtype=np.float32), (90, 1))
    dec = decompose(path, layers=4, index_map=index)
    assert dec.canvas_size == (130, 90)
    assert dec.info["source"] == str(path)
    assert (dec.composite() == wide).all()


def test_load_warnings_reach_the_result(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].paste((0, 255, 0), (5, 5, 15, 15))
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:])
    dec = decompose(path, layers=2, index_map=np.zeros((20, 20), np.float32))
    assert any("first frame" in w for w in dec.info["warnings"])


def test_progress_reports_every_stage_in_order() -> None:
    rgba, index = _bands()
    calls: list[tuple[str, float]] = []
    dec = decompose(rgba, layers=3, index_map=index, progress=lambda s, f: calls.append((s, f)))
    assert [stage for stage, _ in calls] == list(STAGES)
    fractions = [f for _, f in calls]
    assert fractions[0] == 0.0 and fractions[-1] == 1.0 and fractions == sorted(fractions)
    assert set(dec.info["timings"]) >= {"load", "regions", "order", "group", "complete"}


@pytest.mark.parametrize("stage", ["load", "regions", "group", "complete"])
def test_cancelled_from_progress_aborts(stage: str) -> None:
    rgba, index = _bands()
    seen: list[str] = []

    def progress(current: str, fraction: float) -> None:
        seen.append(current)
        if current == stage:
            raise Cancelled()

    with pytest.raises(Cancelled):
        decompose(rgba, layers=3, index_map=index, progress=progress)
    assert seen[-1] == stage and "done" not in seen


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layers": 0}, "layers must be a positive integer"),
        ({"layers": "many"}, "layers must be a positive integer or 'auto'"),
        ({"layers": True}, "layers must be a positive integer"),
        ({"completion": "magic"}, "completion must be one of regions, nearest, harmonic, none"),
        ({"tau": -1.0}, "tau must be in"),
        (
            {"index_map": np.zeros((10, 12), np.float32)},
            "index map is 12x10 but the image is 96x96",
        ),
        ({"index_map": np.full((96, 96), np.nan, np.float32)}, "NaN or infinite"),
    ],
)
def test_invalid_options_raise_one_line_errors(options: dict, message: str) -> None:
    rgba, index = _bands()
    kwargs = {"layers": 3, "index_map": index, **options}
    with pytest.raises(InvalidOptionError) as info:
        decompose(rgba, **kwargs)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_image_file_raises_image_load_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageLoadError, match=r"^broken\.png: "):
        decompose(path, index_map=np.zeros((1, 1), np.float32))


def test_layer_names() -> None:
    assert layer_names(1) == ["Layer 1 (back)"]
    assert layer_names(2) == ["Layer 1 (back)", "Layer 2 (front)"]
    assert layer_names(0) == []


def test_load_model_random_presets_folders_and_errors(tmp_path: Path) -> None:
    with pytest.warns(model.RandomWeightsWarning, match="random:tiny: untrained"):
        net = load_model("random:tiny")
    assert net.config == model.create_model("tiny").config and not net.training
    folder = tmp_path / "weights"
    model.save_pretrained(net, folder)
    loaded = load_model(folder)
    assert not loaded.training
    for key, value in net.state_dict().items():
        assert bool((loaded.state_dict()[key] == value).all())
    with pytest.raises(ModelLoadError, match=r"^no-such-model: no such model file or folder"):
        load_model("no-such-model")
    # a bare preset name never means random weights
    with pytest.raises(ModelLoadError, match=r"^tiny: no shipped weights.*random:tiny for an untr"):
        load_model("tiny")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_model(tmp_path / "empty")


def test_default_model_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # the embedded default lives at model.default_weights_dir(); point it at a scratch folder
    monkeypatch.setattr(model.loading, "default_weights_dir", lambda: tmp_path / "default")
    with pytest.raises(ModelLoadError, match="the default model is not installed"):
        load_model()
    model.save_pretrained(model.create_model("tiny"), tmp_path / "default")
    net = load_model(None)
    assert net.config.working_size == model.create_model("tiny").config.working_size


def test_predict_and_decompose_with_a_network() -> None:
    net = load_model("random:tiny")
    rgba, _ = _bands(size=64)
    rgba[:4, :4, 3] = 0  # transparent corner: predicted over white
    index = predict_index(rgba, model=net)
    assert index.dtype == np.float32 and index.shape == (64, 64)
    assert np.isfinite(index).all()
    dec = decompose(rgba, layers=4, model=net, ordering="median")
    assert len(dec.layers) == 4
    assert np.allclose(dec.index_map, index)
    assert "predict" in dec.info["timings"]
    out = dec.composite()
    assert (out[..., 3] == rgba[..., 3]).all()
    seen = rgba[..., 3] > 0
    assert (out[seen] == rgba[seen]).all()


def test_save_writes_a_psd_with_the_layers(tmp_path: Path) -> None:
    rgba, index = _bands()
    dec = decompose(rgba, layers=6, index_map=index)
    path = decomposer.save(dec, tmp_path / "out.psd")
    psd = PSDImage.open(path)
    names = [layer.name for layer in psd]
    assert names[:6] == [layer.name for layer in dec.layers]


def test_public_names_are_exported() -> None:
    for name in (
        "decompose",
        "predict_index",
        "load_model",
        "composite_layers",
        "load_image",
        "save",
    ):
        assert callable(getattr(decomposer, name))


def test_degenerate_images() -> None:
    empty = np.zeros((12, 9, 4), np.uint8)  # fully transparent: nothing to own
    dec = decompose(empty, layers=3, index_map=np.zeros((12, 9), np.float32))
    assert dec.layers == [] and (dec.composite() == 0).all()
    assert any("only 0 flat-colour region" in w for w in dec.info["warnings"])
    dot = np.full((1, 1, 3), 7, np.uint8)
    dec = decompose(dot, layers="auto", index_map=np.ones((1, 1), np.float32))
    assert len(dec.layers) == 1 and dec.layers[0].name == "Layer 1 (back)"
    assert (dec.composite()[..., :3] == 7).all()


def test_predict_index_honours_max_pixels() -> None:
    """The one pixel limit reaches prediction too (it used the 100 M default before)."""
    from decomposer.errors import ImageTooLargeError

    art = np.zeros((40, 50, 3), np.uint8)
    with pytest.raises(ImageTooLargeError, match="50x40 = 2,000 pixels, over the limit of 1,000"):
        decomposer.predict_index(art, model="random:tiny", max_pixels=1000)
    assert decomposer.predict_index(art, model="random:tiny", max_pixels=2000).shape == (40, 50)


def test_a_lazy_model_is_loaded_only_when_an_index_map_is_predicted() -> None:
    from decomposer import LazyModel

    rgba, _ = _bands(size=48)
    lazy = LazyModel("random:tiny")
    dec = decompose(rgba, layers=3, model=lazy, index_map=np.zeros((48, 48), np.float32))
    assert len(dec.layers) >= 1 and not lazy.loaded  # index map given: no network needed
    with pytest.warns(model.RandomWeightsWarning):
        first = predict_index(rgba, model=lazy)
    assert lazy.loaded and first.shape == (48, 48)
    net = lazy.get()
    again = decompose(rgba, layers=3, model=lazy, ordering="median")
    assert lazy.get() is net  # loaded once, then shared
    assert np.array_equal(again.index_map, first)
    broken = LazyModel("tiny")  # a bare preset name: the error comes on first use, every time
    for _ in range(2):
        with pytest.raises(ModelLoadError, match="random:tiny"):
            broken.get()
