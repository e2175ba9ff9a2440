"""The one exception type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

E = TypeVar("E", bound=Enum)


class EdgeimgError(Exception):
    """A user-facing error: bad input, a missing file, an unusable model or device.

    The message is shown to the user as one line, so it names what was expected and what was
    found, e.g. ``expected input of shape (1, 3, 320, 320), got (1, 320, 320, 3)``.
    """

    exit_code = 2


def parse_enum(cls: type[E], value: object, what: str) -> E:
    """``cls(value)`` (case-insensitive for text), or an error listing the valid names.

    ``parse_enum(Device, "gpu", "device")`` raises
    ``EdgeimgError("device: expected one of cpu, cuda, tensorrt, auto, got 'gpu'")``.
    """
    if isinstance(value, cls):
        return value
    for member in cls:
        if str(member.value).lower() == str(value).lower():
            return member
    valid = ", ".join(str(m.value) for m in cls)
    raise EdgeimgError(f"{what}: expected one of {valid}, got {value!r}")
