"""Errors and warnings raised by the model package (one-line, actionable messages)."""

from __future__ import annotations

TORCH_EXTRA = "pip install 'illustrators-depth[torch]'"


class ModelError(ValueError):
    """Base of the model package's errors; the message is one line that says what to do."""


class CheckpointError(ModelError):
    """A checkpoint does not match the architecture; the message names the offending keys."""


class UnknownModelError(ModelError):
    """A model spec names nothing we can load (no such file, a preset without shipped weights)."""


class MissingDependencyError(ModelError, ImportError):
    """The requested model or runtime needs a package that is not installed; the message names
    the extra to install (e.g. ``pip install 'illustrators-depth[torch]'``)."""


class RandomWeightsWarning(UserWarning):
    """An untrained (randomly initialised) network was loaded on request (``random:PRESET``)."""
