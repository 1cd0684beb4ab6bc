"""Errors that reach users as one line (``animcli: error: …``) and exit code 2, never a traceback."""


class AnimcliError(Exception):
    """Base of every expected failure: bad input, unusable checkpoint, missing optional dependency."""

    exit_code = 2


class ModelError(AnimcliError, ValueError):
    """A checkpoint or config that does not describe a usable model."""


class RegistryError(AnimcliError):
    """A model name, registry file or download that cannot be used (shown to users as one line)."""


class VideoError(AnimcliError):
    """A missing, unreadable or unsupported image/video, or an output that cannot be written."""
