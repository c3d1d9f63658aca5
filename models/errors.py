"""Project exceptions.  CLIs print ``str(error)`` on one line and exit non-zero; never a traceback."""
from __future__ import annotations


class DanceposeError(Exception):
    """A failure the user can act on (bad file, missing device, corrupt model …).

    ``exit_code`` is what the command-line tools exit with.
    """

    exit_code: int = 1


class ParameterError(DanceposeError, ValueError):
    """A function was called with invalid parameters (librosa style)."""

    exit_code = 2


class InputError(DanceposeError):
    """An input file is missing, unreadable, corrupt or unsuitable (no person, no audio, silence …)."""

    exit_code = 3


class ModelError(DanceposeError):
    """A model directory is missing, corrupt or of an incompatible version."""

    exit_code = 4


class DeviceError(DanceposeError):
    """An audio device or display is unavailable."""

    exit_code = 5


class OutputError(DanceposeError):
    """An output cannot be written: a path under a file, a device, no permission, a full disk."""

    exit_code = 6
