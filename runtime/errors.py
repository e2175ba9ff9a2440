"""The one exception type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from enum import Enum
from typing import Any, TypeVar

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


def first_line(message: object, limit: int = 300) -> str:
    """The first non-empty line of a library's error message, shortened for a one-line error."""
    line = next((ln.strip() for ln in str(message).splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


def typed_params(
    config_type: type,
    params: Mapping[str, Any],
    what: str,
    error: type[EdgeimgError] = EdgeimgError,
) -> Any:
    """A typed config dataclass from a mapping; unknown keys and wrong types are one-line errors.

    ``typed_params(CenterNetConfig, {"strde": 4}, "decoder centernet")`` raises
    ``decoder centernet: unknown keys strde; valid: stride, score_threshold, ...``.
    """
    known = [f.name for f in fields(config_type)]
    unknown = sorted(map(str, set(params) - set(known)))  # YAML keys may be numbers, null
    if unknown:
        raise error(f"{what}: unknown keys {', '.join(unknown)}; valid: {', '.join(known)}")
    try:
        return config_type(**dict(params))
    except EdgeimgError as exc:  # the config's own check names the key already
        raise error(str(exc)) from None
    except (TypeError, ValueError) as exc:
        raise error(f"{what}: {first_line(exc)}") from None
