"""The errors a user can cause, each with the exit code the CLI turns it into.

Only ``cli_common.guarded`` maps them to exit codes (docs/errors.md lists every one);
everywhere else raises them with a one-line message
that names the file, the key or value, and what was expected.
"""


class DlcliError(Exception):
    """Base of every expected failure; ``str(err)`` is the one line shown to the user."""

    exit_code = 1


class UsageError(DlcliError):
    """Bad command-line usage."""

    exit_code = 2


class ConfigError(DlcliError):
    """A config (or sweep) file that is missing, unreadable or invalid."""

    exit_code = 2


class DataError(DlcliError):
    """A data file that is missing, corrupt or not in the expected format."""

    exit_code = 2


class EnvironmentFailure(DlcliError):
    """The machine refused: out of memory, disk full, permission denied, a lost scheduler."""

    exit_code = 3


class RunFailed(DlcliError):
    """A run that started but could not finish (diverged, a numerical failure, ...)."""

    exit_code = 1
