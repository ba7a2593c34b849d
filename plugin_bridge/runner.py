"""The model side of the bridge: `decomposer.decompose` with one model loaded once."""

from __future__ import annotations

from typing import Any

import numpy as np

from decomposer.errors import DecomposerError, ImageLoadError, InvalidOptionError
from plugin_bridge.errors import ApiError
from plugin_bridge.jobs import JobParams, ProgressCallback


class DecomposeRunner:
    """Runs `decomposer.decompose` with one model loaded once (implements jobs.Runner)."""

    def __init__(self, model: str | None = None, device: str | None = None) -> None:
        self.model_name = model or "default"
        self.device = device
        self._spec = model
        self._model: Any = None

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    @property
    def device_name(self) -> str:
        """The torch device jobs run on."""
        from model.inference import select_device

        return str(select_device(self.device))

    @property
    def completion_modes(self) -> tuple[str, ...]:
        """Completion methods `decompose` accepts."""
        from decomposer.completion import COMPLETION_MODES

        return tuple(COMPLETION_MODES)

    def load(self) -> None:
        """Load the model (raises decomposer.errors.ModelLoadError with a one-line message)."""
        import decomposer

        if self._model is None:
            self._model = decomposer.load_model(self._spec)

    def run(self, image: np.ndarray, params: JobParams, progress: ProgressCallback) -> Any:
        """Decompose one RGBA image; returns a Decomposition."""
        import decomposer

        return decomposer.decompose(
            image,
            layers=params.layers,
            model=self._model,
            completion=params.complete,
            device=self.device,
            progress=progress,
            max_pixels=max(image.shape[0] * image.shape[1], 1),  # validated at upload
        )

    def error_of(self, exc: BaseException) -> ApiError | None:
        """Client-facing error for decomposer failures; None means an internal bug."""
        if isinstance(exc, ImageLoadError):
            return ApiError(400, "bad_image", str(exc), "check the image file")
        if isinstance(exc, InvalidOptionError):
            return ApiError(400, "bad_parameter", str(exc), "see PROTOCOL.md for valid values")
        if isinstance(exc, DecomposerError):
            return ApiError(500, "decompose_failed", str(exc), "")
        return None
