"""Errors that reach users as one line (``animcli: error: …``) and exit code 2, never a traceback."""


class AnimcliError(Exception):
    """Base of every expected failure: bad input, unusable checkpoint, missing optional dependency."""

    exit_code = 2
