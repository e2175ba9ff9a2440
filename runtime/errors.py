"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class EdgeimgError(Exception):
    """A user-facing error: bad input, a missing file, an unusable model or device.

    The message is shown to the user as one line, so it names what was expected and what was
    found, e.g. ``expected input of shape (1, 3, 320, 320), got (1, 320, 320, 3)``.
    """

    exit_code = 2
