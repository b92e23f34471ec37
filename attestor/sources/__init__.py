"""Telemetry sources and the factory that builds them from the ``[[sources]]`` config tables.

``open_sources`` turns each ``SourceSpec`` into a ``TelemetrySource``; ``auto`` picks what the
machine has: NVML when a driver answers and lists a GPU, else amd-smi (or rocm-smi) when it is
on PATH and lists a GPU, and the Linux host counters whenever ``/proc/stat`` exists. An option
error is a ConfigError naming ``sources[i].<option>``.

Each kind's module is imported only when a source of that kind is opened: a daemon starts
without loading the HTTP, NVML or trace code it does not use.
"""

from __future__ import annotations

import functools
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from attestor.config import ConfigError, SourceSpec
from attestor.telemetry import TelemetrySource
from pausewatch.errors import EnvironmentFaultError, InputError

__all__ = ["open_sources"]

_log = logging.getLogger("pausewatch.attestor.sources")


def _opt(spec: SourceSpec, index: int, name: str, kind: type, default: Any) -> Any:
    value = spec.get(name, default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise ConfigError(f"sources[{index}].{name}: expected {kind.__name__}, got {value!r}")
    return value


_ALLOWED = {
    "auto": set(),
    "nvml": set(),
    "dcgm": {"url", "timeout_s"},
    "nvidia-smi": {"format", "binary"},
    "amd": {"tool", "binary", "timeout_s"},
    "linux": {"root", "hwmon_as_node_power"},
    "redfish": {"url", "username", "password", "ca_file", "verify_tls", "timeout_s"},
    "replay": {"path", "devices", "uuids", "model", "loop", "zero_is_missing"},
    "simulator": {"devices", "profile", "job_seed", "iteration_s", "model", "node_ids", "overhead", "seed",
                  "schedule", "nodes", "base_w"},
}


def open_sources(
    specs: Sequence[SourceSpec], *, subject_id: str, meter: bool = False
) -> list[TelemetrySource]:
    """Build every configured source (ConfigError / EnvironmentFaultError on failure)."""
    sources: list[TelemetrySource] = []
    for i, spec in enumerate(specs):
        unknown = {k for k, _ in spec.options} - _ALLOWED[spec.kind]
        if unknown:
            raise ConfigError(f"sources[{i}].{sorted(unknown)[0]}: unknown option for kind {spec.kind!r}")
        sources.extend(_open(spec, i, subject_id, meter))
    return sources


def _auto_amd() -> list[TelemetrySource]:
    """An ``amd`` source when amd-smi (else rocm-smi) is on PATH and lists a GPU."""
    from attestor.sources._process import run_tool  # noqa: PLC0415 (lazy, per kind)
    from attestor.sources.amd import AmdSmiSource  # noqa: PLC0415 (lazy, per kind)

    for tool in ("amd-smi", "rocm-smi"):
        binary = shutil.which(tool)
        if binary is None:
            continue
        source = AmdSmiSource(tool, run=functools.partial(run_tool, binary=binary, timeout_s=10.0))
        if source.sample(0).devices:
            return [source]
        _log.info("auto: no AMD GPU", extra={"fields": {"tool": binary}})
    return []


def _open(spec: SourceSpec, i: int, subject_id: str, meter: bool) -> list[TelemetrySource]:  # noqa: PLR0915 -- one branch per source kind
    kind = spec.kind
    if kind == "auto":
        from attestor.sources.linux_host import LinuxHostSource  # noqa: PLC0415 (lazy, per kind)
        from attestor.sources.nvml import NvmlSource  # noqa: PLC0415 (lazy, per kind)

        found: list[TelemetrySource] = []
        try:
            nvml = NvmlSource()
            if nvml.inventory():
                found.append(nvml)
            else:
                nvml.close()
        except (EnvironmentFaultError, OSError) as e:
            _log.info("auto: no NVML GPU", extra={"fields": {"reason": str(e)[:200]}})
        if not found:
            found.extend(_auto_amd())
        if Path("/proc/stat").exists():
            found.append(LinuxHostSource())
        if not found:
            raise EnvironmentFaultError("sources: auto found no NVML or AMD GPU and no Linux host counters")
        return found
    if kind == "nvml":
        from attestor.sources.nvml import NvmlSource  # noqa: PLC0415 (lazy, per kind)

        return [NvmlSource()]
    if kind == "dcgm":
        from attestor.sources._http import HttpFetcher  # noqa: PLC0415 (lazy, per kind)
        from attestor.sources.dcgm import DcgmExporterSource  # noqa: PLC0415 (lazy, per kind)

        url = _opt(spec, i, "url", str, "http://127.0.0.1:9400/metrics")
        return [DcgmExporterSource(HttpFetcher(url, timeout_s=_opt(spec, i, "timeout_s", float, 2.0)))]
    if kind == "nvidia-smi":
        from attestor.sources.nvidia_smi import NvidiaSmiSource, run_nvidia_smi  # noqa: PLC0415 (lazy, per kind)

        binary = _opt(spec, i, "binary", str, "nvidia-smi")
        fmt = _opt(spec, i, "format", str, "xml")
        if fmt not in ("xml", "csv"):
            raise ConfigError(f"sources[{i}].format: must be 'xml' or 'csv'; got {fmt!r}")
        return [NvidiaSmiSource(fmt, run=lambda args: run_nvidia_smi(args, binary=binary))]
    if kind == "amd":
        from attestor.sources._process import run_tool  # noqa: PLC0415 (lazy, per kind)
        from attestor.sources.amd import AmdSmiSource  # noqa: PLC0415 (lazy, per kind)

        tool = _opt(spec, i, "tool", str, "amd-smi")
        if tool not in ("amd-smi", "rocm-smi"):
            raise ConfigError(f"sources[{i}].tool: must be 'amd-smi' or 'rocm-smi'; got {tool!r}")
        binary = _opt(spec, i, "binary", str, tool)
        timeout_s = _opt(spec, i, "timeout_s", float, 10.0)
        return [AmdSmiSource(tool, run=lambda args: run_tool(args, binary=binary, timeout_s=timeout_s))]
    if kind == "linux":
        from attestor.sources.linux_host import LinuxHostSource  # noqa: PLC0415 (lazy, per kind)

        return [
            LinuxHostSource(
                Path(_opt(spec, i, "root", str, "/")),
                hwmon_as_node_power=_opt(spec, i, "hwmon_as_node_power", bool, False),
            )
        ]
    if kind == "redfish":
        from attestor.sources._http import HttpFetcher  # noqa: PLC0415 (lazy, per kind)
        from attestor.sources.redfish import RedfishPowerSource  # noqa: PLC0415 (lazy, per kind)

        url = _opt(spec, i, "url", str, "")
        if not url:
            raise ConfigError(f"sources[{i}].url: required for redfish")
        fetch = HttpFetcher(
            url,
            timeout_s=_opt(spec, i, "timeout_s", float, 5.0),
            username=_opt(spec, i, "username", str, ""),
            password=_opt(spec, i, "password", str, ""),
            ca_file=_opt(spec, i, "ca_file", str, ""),
            verify_tls=_opt(spec, i, "verify_tls", bool, True),
        )
        return [RedfishPowerSource(fetch, as_meter=meter, meter_id=subject_id)]
    if kind == "replay":
        from attestor.sources.replay import ReplaySource, load_trace  # noqa: PLC0415 (lazy, per kind)

        path = _opt(spec, i, "path", str, "")
        if not path:
            raise ConfigError(f"sources[{i}].path: required for replay")
        devices = _opt(spec, i, "devices", int, 1)
        try:
            trace = load_trace(
                Path(path), devices, zero_is_missing=_opt(spec, i, "zero_is_missing", bool, False)
            )
        except InputError as e:
            raise ConfigError(f"sources[{i}].path: {e}") from e
        count = trace.devices
        named = [d for d in trace.device_ids if d.startswith(("GPU-", "MIG-"))]
        default_uuids = (
            [subject_id] if meter else named if len(named) == count
            else [f"REPLAY-{subject_id}-{d}" for d in range(count)]
        )  # fmt: skip
        uuids = _opt(spec, i, "uuids", list, default_uuids)
        if len(uuids) != count or not all(isinstance(u, str) and u for u in uuids):
            raise ConfigError(f"sources[{i}].uuids: needs {count} non-empty strings")
        return [
            ReplaySource(
                trace,
                uuids,
                model=_opt(spec, i, "model", str, ""),
                loop=_opt(spec, i, "loop", bool, True),
                as_meter=meter,
            )
        ]
    # simulator
    from attestor.sources.simulator import sources_from_options  # noqa: PLC0415 (lazy, per kind)

    try:
        return [sources_from_options(dict(spec.options), subject_id=subject_id, meter=meter)]
    except ValueError as e:
        raise ConfigError(f"sources[{i}].{e}") from e
