"""Verifier-specific refinements of :mod:`pausewatch.errors`, each with one gRPC status.

The servicer is the only place that turns these into status codes (``status_for``); the pure
pipeline raises them. The mapping, documented once:

==========================================  ====================  =============================
exception                                   gRPC status           meaning
==========================================  ====================  =============================
``FormatError`` (and other ``InputError``)  INVALID_ARGUMENT      malformed bytes or fields
``LimitExceededError``                      RESOURCE_EXHAUSTED    too large / too many
``RateLimitedError``                        RESOURCE_EXHAUSTED    too fast for this key
``UnknownKeyError``                         UNAUTHENTICATED       key not enrolled / not trusted
``SignatureError``                          UNAUTHENTICATED       signature does not verify
``NotEnrolledHereError``                    PERMISSION_DENIED     authentic, but the key is not
                                                                  enrolled for that facility /
                                                                  node / meter (also when an
                                                                  inventory logged after its
                                                                  admission dropped the key), or
                                                                  a lab key declares a facility
                                                                  it may not, or an inventory
                                                                  entry whose proof of
                                                                  possession does not verify
                                                                  (``EnrolmentProofError``)
``PermissionDeniedError``                   PERMISSION_DENIED     the caller's role may not do
                                                                  this (:mod:`verifier.authz`)
``ReportTooOldError``,                      FAILED_PRECONDITION   a report or commitment window
``BackdatedCommitmentError``                                      further back than the limits
                                                                  (:mod:`verifier.bounded_time`)
``StaleVersionError``                       FAILED_PRECONDITION   a document version that does
                                                                  not increase
``KeyConflictError``                        FAILED_PRECONDITION   an inventory enrols a key that
(:mod:`pausewatch.inventory`)                                     another facility's latest
                                                                  inventory holds
``VerificationError`` (other)               FAILED_PRECONDITION   well-formed but inconsistent
``EnvironmentFaultError``                   UNAVAILABLE           disk or environment failed
anything else                               INTERNAL              our bug
==========================================  ====================  =============================
"""

from __future__ import annotations

import grpc

from pausewatch.documents import DocumentScopeError
from pausewatch.enrolment import EnrolmentProofError
from pausewatch.errors import (
    EnvironmentFaultError,
    InputError,
    LimitExceededError,
    SignatureError,
    UnknownKeyError,
    VerificationError,
)

__all__ = [
    "BackdatedCommitmentError",
    "NotEnrolledHereError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ReportTooOldError",
    "StaleVersionError",
    "UnknownKeyError",
    "status_for",
]



class NotEnrolledHereError(VerificationError):
    """An authentic signature by a key that is not enrolled for what the document claims."""


class PermissionDeniedError(InputError):
    """The caller's identity or role does not allow the call (``verifier.authz``)."""


class RateLimitedError(LimitExceededError):
    """A key submitted faster than its configured rate."""


class ReportTooOldError(VerificationError):
    """A report whose period ended further back than ``limits.max_report_age_s``."""


class BackdatedCommitmentError(VerificationError):
    """A commitment window starting further back than ``limits.max_commitment_backdate_s``."""


class StaleVersionError(VerificationError):
    """A versioned document whose version does not increase."""


def status_for(error: BaseException) -> grpc.StatusCode:
    """The gRPC status code for an exception raised by the verifier's pipeline."""
    if isinstance(error, LimitExceededError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED
    if isinstance(error, SignatureError):
        return grpc.StatusCode.UNAUTHENTICATED
    if isinstance(
        error, (NotEnrolledHereError, DocumentScopeError, EnrolmentProofError, PermissionDeniedError)
    ):
        return grpc.StatusCode.PERMISSION_DENIED
    if isinstance(error, VerificationError):
        return grpc.StatusCode.FAILED_PRECONDITION
    if isinstance(error, InputError):
        return grpc.StatusCode.INVALID_ARGUMENT
    if isinstance(error, EnvironmentFaultError):
        return grpc.StatusCode.UNAVAILABLE
    return grpc.StatusCode.INTERNAL
