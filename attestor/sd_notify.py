"""The attestor's service-manager notifications: :mod:`pausewatch.sd_notify`, shared with the
verifier."""

from pausewatch.sd_notify import ServiceNotifier

__all__ = ["ServiceNotifier"]
