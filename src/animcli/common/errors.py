"""Errors that reach users as one line (``animcli: error: …``), never a traceback, and the exit codes.

Exit codes (the README's "Guarantees" lists them too):
* 0 — success;
* 1 — the run failed for a reason other than its input (disk full, out of memory, an unexpected error), or
  only part of it succeeded (some jobs of a batch);
* 2 — bad input or usage (missing/corrupt files, unusable model or config, an output that would destroy an input);
* 130 — interrupted (Ctrl-C, SIGINT); 143 — terminated (SIGTERM);
* 141 — the reader of standard output went away (``animcli animate … -o - | head -c 1000``): nothing is printed,
  as a Unix tool killed by SIGPIPE would end (the shell reports 141 = 128 + SIGPIPE for those too).
"""

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
EXIT_PIPE_CLOSED = 141


class AnimcliError(Exception):
    """Base of every expected failure: bad input, unusable checkpoint, missing optional dependency."""

    exit_code = EXIT_BAD_INPUT


class ModelError(AnimcliError, ValueError):
    """A checkpoint or config that does not describe a usable model."""


class RegistryError(AnimcliError):
    """A model name, registry file or download that cannot be used (shown to users as one line)."""


class VideoError(AnimcliError):
    """A missing, unreadable or unsupported image/video, or an output that cannot be written."""


class OutOfSpaceError(VideoError):
    """The disk (or quota, or file-size limit) filled up while writing: the machine's fault, not the input's."""

    exit_code = EXIT_FAILURE


class OutputClosed(AnimcliError):
    """Standard output was closed by its reader (a pipe into ``head``): not an error of the input, and nothing is
    left to report to, so the run ends quietly with SIGPIPE's status."""

    exit_code = EXIT_PIPE_CLOSED


class OutputError(AnimcliError):
    """An output that cannot be written without destroying data: an input, a non-empty folder, a path under a file."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so that the same clean-up as for Ctrl-C runs (temporary files removed,
    training checkpointed); reported with exit code 143 instead of 130."""
