"""The one exception type the CLI turns into a clean message (no traceback)."""


class IntrobenchError(Exception):
    """A user-facing error: bad input, missing data, a broken plugin."""


class ConfigError(IntrobenchError, ValueError):
    """A configuration value is invalid; the message names the field and what is allowed."""

    def __init__(self, field: str, message: str, source: str | None = None):
        self.field = field
        self.source = source
        self.message = message  # without the field: for callers that name the field their own way
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{field}: {message}")
