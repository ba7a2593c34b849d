"""User-facing errors of the decomposer.

Every error carries a one-line message a user can act on. Only CLIs turn them into exit codes
(see docs/ARCHITECTURE.md): `ImageLoadError` and `InvalidOptionError` are bad input (exit 2),
`Cancelled` is an interruption (exit 130).
"""

from __future__ import annotations


class DecomposerError(Exception):
    """Base class: `str(err)` is a one-line, user-facing message."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        """The one-line message (same as `str(err)`)."""
        return str(self)


class ImageLoadError(DecomposerError):
    """An input image could not be read or is unacceptable; the message starts with the file name."""


class ImageTooLargeError(ImageLoadError):
    """An input is over the pixel limit (or over a decoder's own safety limit).

    size: (width, height) from the file's header, None when the decoder refused before telling.
    max_pixels: the limit that was applied (width * height).
    """

    def __init__(self, message: str, size: tuple[int, int] | None, max_pixels: int) -> None:
        super().__init__(message)
        self.size = size
        self.max_pixels = max_pixels


class InvalidOptionError(DecomposerError, ValueError):
    """An option or argument has an invalid value (layer count, completion mode, index map shape)."""


class ModelLoadError(DecomposerError):
    """Model weights could not be found or loaded."""


class Cancelled(DecomposerError):
    """Raised by a progress callback to abort `decompose` cleanly."""

    def __init__(self, message: str = "cancelled") -> None:
        super().__init__(message)
