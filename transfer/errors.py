"""Errors the harness raises for things a user must fix; each message names the thing."""


class TransferError(RuntimeError):
    """Base class: a one-line, actionable error (bad input, bad config, unreachable service)."""


class DataError(TransferError):
    """A data file is missing, malformed or yields an empty split."""


class ConfigError(TransferError):
    """A config name or value is unknown or invalid."""


class AssetError(TransferError):
    """A model asset could not be fetched, verified or assembled."""


class BoundaryError(TransferError):
    """A method broke the evaluation boundary or returned invalid predictions."""


class MethodError(TransferError):
    """A method's own code failed (its traceback is logged), or its process died or timed out."""


class DataWarning(UserWarning):
    """Data a loader skipped (identical replies, ...): said once by the sweep's pre-flight (jobs/preflight.py), not
    again by each process that loads the same data."""


class ConfinementRefused(OSError):
    """The platform refused a namespace, mount or filter the method's confinement needs (transfer/sandbox/)."""


class StudyError(TransferError, ValueError):
    """A study cannot be used as stored, or its tracking store does not answer; the message names what to fix."""
