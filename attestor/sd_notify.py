"""The attestor's service-manager notifications: :mod:`pausewatch.files.sd_notify`, shared with the
verifier."""

from pausewatch.files.sd_notify import ServiceNotifier

__all__ = ["ServiceNotifier"]
