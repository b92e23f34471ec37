"""The exception hierarchy of pausewatch, split by whose fault a failure is.

- ``InputError``: the bytes, file or document we were given is wrong (malformed, too large,
  badly signed). The caller can act on the message; a gRPC servicer maps these to
  INVALID_ARGUMENT / UNAUTHENTICATED / RESOURCE_EXHAUSTED, a CLI to exit 1 or 2.
- ``VerificationError`` (an ``InputError``): well-formed, but a signature, proof or chain
  check failed. ``verify()`` functions raise it and return nothing otherwise.
- ``EnvironmentFaultError``: the machine failed us (disk, missing tool, unreadable file).
- ``InternalError``: a bug of ours; never caught to be turned into a verdict.

Foreign exceptions are wrapped at the boundary with ``raise ... from e``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "EnvironmentFaultError",
    "FormatError",
    "InputError",
    "InternalError",
    "KeyFileError",
    "LimitExceededError",
    "PausewatchError",
    "SignatureError",
    "UnknownKeyError",
    "VerificationError",
]


class PausewatchError(Exception):
    """Base of every exception pausewatch raises on purpose."""


class InputError(PausewatchError):
    """The input was wrong; the message says what and where."""


class ConfigError(InputError):
    """A configuration file, variable or flag that is missing, malformed or out of range; the
    message names where (``file:line: key: problem``). One class for every role's config."""


class FormatError(InputError):
    """Bytes or text that do not parse as the format they claim to be."""


class LimitExceededError(InputError):
    """Input larger or more numerous than an explicit limit allows."""


class KeyFileError(InputError):
    """A key file or key string that cannot be loaded."""


class VerificationError(InputError):
    """Well-formed input that failed a cryptographic or consistency check."""


class SignatureError(VerificationError):
    """A signature that does not verify, or no signature from a required key."""


class UnknownKeyError(SignatureError):
    """No enrolled or trusted key matches the envelope's signatures."""


class EnvironmentFaultError(PausewatchError):
    """The environment failed: disk, permissions, a missing tool."""


class InternalError(PausewatchError):
    """A broken invariant of our own: a bug."""
