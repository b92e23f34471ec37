"""The offline audit: rebuild the tree, re-check every signature, chain and challenge,
re-run the evaluation and compare every verdict. Entry point: :func:`audit_bundle`."""

from auditor.outcome import AuditFailure, AuditOutcome, Observation
from auditor.pipeline import AuditOptions, TrustInputError, audit_bundle

__all__ = ["AuditFailure", "AuditOptions", "AuditOutcome", "Observation", "TrustInputError", "audit_bundle"]
