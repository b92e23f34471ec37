"""Running a vendor tool (nvidia-smi, amd-smi, rocm-smi) once, bounded in time."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping

from pausewatch.errors import EnvironmentFaultError

__all__ = ["run_tool"]


def run_tool(
    args: list[str], *, binary: str, timeout_s: float = 5.0, env: Mapping[str, str] | None = None
) -> str:
    """``binary args`` stdout; EnvironmentFaultError when the tool is missing, fails or hangs.

    ``env``: variables set for the tool on top of this process's environment.
    """
    full_env = None if env is None else {**os.environ, **env}
    try:
        done = subprocess.run(
            [binary, *args], capture_output=True, timeout=timeout_s, check=False, env=full_env
        )
    except FileNotFoundError as e:
        raise EnvironmentFaultError(f"{binary} not found") from e
    except subprocess.TimeoutExpired as e:
        raise EnvironmentFaultError(f"{binary} {' '.join(args)} took over {timeout_s} s") from e
    if done.returncode != 0:
        raise EnvironmentFaultError(
            f"{binary} exited {done.returncode}: {done.stderr.decode('utf-8', 'replace')[:200]}"
        )
    return done.stdout.decode("utf-8", "replace")
