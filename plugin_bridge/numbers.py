"""Strict parsing of the numbers clients send (query parameters, headers, path segments).

Python's `int()` accepts far more than HTTP should: other scripts' digits ("١", "²" via
`str.isdigit`), signs, underscores, surrounding spaces, and it refuses (ValueError) strings over
4300 digits. Every number the bridge reads goes through `parse_decimal`: ASCII digits only, at
most `max_digits` of them, nothing else. Stdlib only.
"""

from __future__ import annotations

import re

from plugin_bridge.errors import ApiError

_ASCII_DIGITS = re.compile(r"[0-9]+")


def parse_decimal(text: str, max_digits: int) -> int | None:
    """The value of `text` if it is 1..`max_digits` ASCII digits (leading zeros allowed), else None."""
    if not 0 < len(text) <= max_digits or _ASCII_DIGITS.fullmatch(text) is None:
        return None
    return int(text)


def integer_parameter(
    text: str, name: str, *, low: int, high: int, max_digits: int, hint: str = ""
) -> int:
    """`text` as an integer in [low, high]; ApiError 400 bad_parameter naming `name` otherwise."""
    value = parse_decimal(text, max_digits)
    if value is None or not low <= value <= high:
        raise ApiError(
            400,
            "bad_parameter",
            f"{name}={shorten(text)!r} is not valid",
            hint or f"use an integer {low}-{high} (ASCII digits)",
        )
    return value


def shorten(text: str, limit: int = 40) -> str:
    """`text` cut to `limit` characters for messages (a 5000-digit value stays one short line)."""
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


__all__ = ["integer_parameter", "parse_decimal", "shorten"]
