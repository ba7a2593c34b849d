"""Illustrator's Depth decomposer: image in -> ordered, editable layers out.

Public API:
    load_model(name_or_path=None, *, runtime="auto")  the network (None = embedded default)
    LazyModel(spec=None, *, runtime="auto") a model loaded on first use (only if needed)
    predict_index(image, *, model, device, max_pixels)  float32 (H, W) layer index, higher = front
    decompose(image, options=None, *, model=None, index_map=None, device=None, progress=None,
              **option_overrides) -> Decomposition
    DecomposeOptions(layers, ordering, completion, tau, regions, max_pixels)
    save(dec, path, format=None, *, extras=True)   write a Decomposition (PSD/ORA/PNG/SVG...)
    composite_layers(layers, canvas_size)   the one exact compositor
    load_image(source, *, max_pixels)       validated 8-bit sRGB RGBA input
"""

from decomposer.composite import composite_layers
from decomposer.errors import (
    Cancelled,
    DecomposerError,
    ImageLoadError,
    ImageTooLargeError,
    InvalidOptionError,
    ModelLoadError,
)
from decomposer.image_io import LoadedImage, load_image
from decomposer.options import DecomposeOptions
from decomposer.pipeline import (
    STAGES,
    LazyModel,
    decompose,
    layer_names,
    load_model,
    predict_index,
)
from decomposer.types import Decomposition, Layer
from decomposer.writers import save

__all__ = [
    "STAGES",
    "Cancelled",
    "DecomposeOptions",
    "DecomposerError",
    "Decomposition",
    "ImageLoadError",
    "ImageTooLargeError",
    "InvalidOptionError",
    "Layer",
    "LazyModel",
    "LoadedImage",
    "ModelLoadError",
    "composite_layers",
    "decompose",
    "layer_names",
    "load_image",
    "load_model",
    "predict_index",
    "save",
]
