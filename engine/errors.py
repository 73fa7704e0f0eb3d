"""Errors every entry point raises; the CLI, console and service turn them into messages, never tracebacks."""


class VitrinaError(Exception):
    """Base class: the message is meant for the user."""


class NotFound(VitrinaError):
    """An unknown product, category, strategy or user."""


class ValidationError(VitrinaError, ValueError):
    """Bad arguments: inverted ranges, n out of bounds, NaN, empty text."""


class InvalidImage(ValidationError):
    """Not an image, corrupt, truncated, too large or a decompression bomb."""


class EncoderMismatch(VitrinaError):
    """The collection was built by other encoders or weights: reindex instead of mixing vectors."""


class ConfigError(VitrinaError):
    """A config document failed validation; `errors` lists every problem, nothing was applied."""

    def __init__(self, message: str, errors: list[str] | None = None):
        self.errors = list(errors or [])
        super().__init__(message if not self.errors else message + ":\n  - " + "\n  - ".join(self.errors))
