"""Errors raised by the model package."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint does not match the architecture; the message names the offending keys."""
