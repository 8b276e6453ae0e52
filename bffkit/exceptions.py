"""Exceptions raised by bffkit.

Everything a user can cause (a bad config value, an unknown attribute, an unreadable store) is a
:class:`BffkitError`; the CLI prints its message on one line and exits with code 2.
"""

from __future__ import annotations


class OneLine:
    """In a notebook (IPython), the error shows as its one line, not as a traceback into bffkit."""

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


class BffkitError(OneLine, Exception):
    """Raised when input from the user is wrong; the message is one line that says what to fix."""

    exit_code = 2


class ConfigError(BffkitError):
    """Raised when a run config has an unknown field or a value outside what is allowed."""


class TaxonomyError(BffkitError):
    """Raised when the VLT taxonomy file is malformed (duplicates, empty values, unknown names)."""


class RequestError(BffkitError):
    """Raised when a design request names an unknown attribute or value."""


class StoreError(BffkitError):
    """Raised when the workspace store cannot be opened, locked or migrated."""


class NotStoredError(StoreError):
    """Raised when a row asked for by id (a job, a stage's result) is not in the store."""


class DiskFullError(BffkitError):
    """Raised when the disk holding the workspace fills up: what was committed is kept (exit code 1)."""

    exit_code = 1


class StageError(OneLine, Exception):
    """Raised when a pipeline stage fails for a reason other than bad input (exit code 1)."""

    exit_code = 1
