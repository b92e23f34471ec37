"""``pausewatch-audit``, the auditor's role: check a bundle offline, trusting nobody.

``auditor.pipeline.audit_bundle`` rebuilds the tree, re-checks every signature, chain and
challenge, re-runs the evaluation and compares every verdict; ``auditor.cli`` is the command.
This package imports nothing at import time, so the command's Ctrl-C guard covers every import.
"""
