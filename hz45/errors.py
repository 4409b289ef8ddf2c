"""Errors a user can cause: each carries a one-line message that says what to do."""


class Hz45Error(Exception):
    """An error the user can fix; the CLI prints it on one line and exits non-zero."""

    def __init__(self, message: str, hint: str | None = None):
        self.message = message
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(Hz45Error):
    """A configuration value is wrong or unknown."""


class DataNotFound(Hz45Error):
    """A dataset folder or file is missing."""


class ServiceUnavailable(Hz45Error):
    """A server the command needs does not answer."""
