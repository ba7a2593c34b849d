"""`DecomposeOptions`: the one options object that decides how an image is decomposed.

`decompose()`, the batch runner, the bridge's job parameters and the CLI all build one of these;
the batch resume key derives from `key_fields()`. Everything about *where* results go (format,
extras, paths) and *what runs it* (model, device) lives elsewhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from decomposer.completion import COMPLETION_MODES, CONTINUATIONS
from decomposer.errors import InvalidOptionError
from decomposer.grouping import DEFAULT_TAU
from decomposer.image_io import DEFAULT_MAX_PIXELS
from decomposer.ordering import DEFAULT_ORDERING, ORDERINGS
from decomposer.regions import RegionConfig
from decomposer.svg_input import DEFAULT_SVG_SIZE

MAX_SVG_SIZE = 32768


@dataclass(frozen=True)
class DecomposeOptions:
    """How one image is decomposed (validated on construction: raises InvalidOptionError).

    layers: N >= 1 (exactly N layers whenever the image has at least N regions) or "auto".
    ordering: how regions are put in depth order, one of `decomposer.ordering.ORDERINGS`
        ("graph": the learned occlusion orderer on the region graph, the default; "median": the
        paper's median of the network's index per region).
    completion: how the hidden part of each layer is filled in, one of
        `decomposer.completion.COMPLETION_MODES` ("regions": shape continuation in each
        region's flat colour).
    continuation: completion "regions": how hidden areas that also border other layers are
        continued, one of `decomposer.completion.CONTINUATIONS` ("harmonic", the default: the
        layer's harmonic indicator decides; "closest": the closest visible pixel decides;
        "convex": region convex hulls; "mix": hulls of convex regions).
    tau: colour threshold (L2 in [0, 1] RGB) for merging regions adjacent in order, in [0, 2].
    regions: flat-colour segmentation settings.
    max_pixels: inputs with more pixels (width * height) are refused, checked from the header
        before decoding; >= 1.
    svg_size: SVG/SVGZ inputs are rendered with this many pixels on their longer side, >= 1.
    """

    layers: int | str = 6
    ordering: str = DEFAULT_ORDERING
    completion: str = "regions"
    continuation: str = "harmonic"
    tau: float = DEFAULT_TAU
    regions: RegionConfig = field(default_factory=RegionConfig)
    max_pixels: int = DEFAULT_MAX_PIXELS
    svg_size: int = DEFAULT_SVG_SIZE

    def __post_init__(self) -> None:
        layers = self.layers
        if isinstance(layers, str):
            if layers.strip().lower() != "auto":
                raise InvalidOptionError(
                    f"layers must be a positive integer or 'auto', got {layers!r}"
                )
            object.__setattr__(self, "layers", "auto")
        elif isinstance(layers, bool) or not isinstance(layers, int | np.integer) or layers < 1:
            raise InvalidOptionError(f"layers must be a positive integer or 'auto', got {layers!r}")
        else:
            object.__setattr__(self, "layers", int(layers))
        if self.ordering not in ORDERINGS:
            raise InvalidOptionError(
                f"ordering must be one of {', '.join(ORDERINGS)}, got {self.ordering!r}"
            )
        if self.completion not in COMPLETION_MODES:
            raise InvalidOptionError(
                f"completion must be one of {', '.join(COMPLETION_MODES)}, got {self.completion!r}"
            )
        if self.continuation not in CONTINUATIONS:
            raise InvalidOptionError(
                f"continuation must be one of {', '.join(CONTINUATIONS)}, got {self.continuation!r}"
            )
        try:
            tau = float(self.tau)
        except (TypeError, ValueError):
            raise InvalidOptionError(f"tau must be a number, got {self.tau!r}") from None
        if not (0.0 <= tau <= 2.0):
            raise InvalidOptionError(f"tau must be in [0, 2] (L2 in [0, 1] RGB), got {self.tau}")
        object.__setattr__(self, "tau", tau)
        if not isinstance(self.regions, RegionConfig):
            raise InvalidOptionError(f"regions must be a RegionConfig, got {self.regions!r}")
        if (
            isinstance(self.max_pixels, bool)
            or not isinstance(self.max_pixels, int | np.integer)
            or self.max_pixels < 1
        ):
            raise InvalidOptionError(
                f"max_pixels must be a positive integer, got {self.max_pixels!r}"
            )
        object.__setattr__(self, "max_pixels", int(self.max_pixels))
        if (
            isinstance(self.svg_size, bool)
            or not isinstance(self.svg_size, int | np.integer)
            or not 1 <= self.svg_size <= MAX_SVG_SIZE
        ):
            raise InvalidOptionError(
                f"svg_size must be a whole number of pixels in 1..{MAX_SVG_SIZE}, "
                f"got {self.svg_size!r}"
            )
        object.__setattr__(self, "svg_size", int(self.svg_size))

    def replace(self, **changes: Any) -> DecomposeOptions:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def key_fields(self) -> dict[str, Any]:
        """JSON-able fields that change the layers produced (the batch resume key uses them).

        `max_pixels` is left out: it decides whether a file is accepted, not what is written
        (`svg_size` is in: it decides the pixels an SVG input is decomposed at).
        """
        return {
            "layers": self.layers,
            "ordering": self.ordering,
            "completion": self.completion,
            "continuation": self.continuation,
            "tau": self.tau,
            "regions": dataclasses.asdict(self.regions),
            "svg_size": self.svg_size,
        }

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """Names accepted as keyword overrides by `decompose()`."""
        return tuple(f.name for f in dataclasses.fields(cls))


def resolve_options(
    options: DecomposeOptions | None, overrides: dict[str, Any]
) -> DecomposeOptions:
    """`options` (default: DecomposeOptions()) with keyword `overrides` applied.

    Raises InvalidOptionError naming unknown keywords.
    """
    unknown = sorted(set(overrides) - set(DecomposeOptions.field_names()))
    if unknown:
        known = ", ".join(DecomposeOptions.field_names())
        raise InvalidOptionError(f"unknown option(s) {', '.join(unknown)} (known: {known})")
    if options is not None and not isinstance(options, DecomposeOptions):
        raise InvalidOptionError(
            f"options must be a DecomposeOptions, got {type(options).__name__}"
        )
    base = options or DecomposeOptions()
    return base.replace(**overrides) if overrides else base
