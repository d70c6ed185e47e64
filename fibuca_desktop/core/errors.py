"""Domain exceptions. Each message is written for a person and says what to do next."""


class FibucaError(Exception):
    """Base class: ``str(error)`` is a complete, actionable message."""


class ImageRejected(FibucaError):
    """An input file cannot be processed (unreadable, truncated, too large, unsupported)."""


class JobTooLarge(ImageRejected):
    """A job needs more memory than the scheduler's whole budget."""


class ModelUnavailable(FibucaError):
    """A model file is missing or corrupt and could not be fetched."""


class OutputError(FibucaError):
    """An output could not be written (unwritable folder, disk full, name clash)."""


class UsageError(FibucaError):
    """The request itself is invalid (bad option combination, output inside the inputs)."""


class Cancelled(FibucaError):
    """The job was cancelled before it finished; nothing was written."""


class SettingsError(FibucaError):
    """Settings are invalid or could not be saved; the message names the field or the file."""
