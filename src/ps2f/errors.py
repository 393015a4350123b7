"""Errors raised for bad input, so users see one clear message instead of a library traceback."""

__all__ = ["Ps2fError", "InputError", "ConfigError"]


class Ps2fError(Exception):
    """Base class of every error ps2f raises on purpose."""


class InputError(Ps2fError):
    """An input file is malformed or inconsistent with another input.

    The message names the file, the record or line, and what the user can do about it.
    """


class ConfigError(Ps2fError):
    """A configuration value is invalid or inconsistent with the inputs."""
