"""dcgm-exporter scrapes: Prometheus text over HTTP, parsed with ``prometheus_client``.

Fields and units (as the exporter's help text states), converted to SI here:

- ``DCGM_FI_DEV_POWER_USAGE``: W;
- ``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION``: mJ since the driver loaded -> J (/1000);
- ``DCGM_FI_DEV_GPU_UTIL``: percent -> fraction (/100);
- ``DCGM_FI_PROF_SM_ACTIVE``, ``DCGM_FI_PROF_PIPE_TENSOR_ACTIVE``: ratios 0..1 (kept);
- ``DCGM_FI_DEV_FB_USED`` / ``_FREE`` / ``_RESERVED``: MiB -> bytes (x 1048576); total is their sum;
- ``DCGM_FI_PROF_PCIE_TX_BYTES`` + ``_RX_BYTES`` and ``DCGM_FI_PROF_NVLINK_TX_BYTES`` + ``_RX_BYTES``:
  bytes/s rates (summed tx+rx);
- ``DCGM_FI_DEV_POWER_MGMT_LIMIT`` / ``DCGM_FI_DEV_ENFORCED_POWER_LIMIT``: W.

Series are keyed by the ``UUID`` label. Per-MIG-instance series (``GPU_I_ID`` label, with
``GPU_I_PROFILE``) are read into the GPU's ``mig_instances`` (``PROF_SM_ACTIVE``,
``PROF_PIPE_TENSOR_ACTIVE``, ``PROF_GR_ENGINE_ACTIVE`` ratios of the instance, ``FB_USED`` MiB ->
bytes); the whole-GPU series stay what the report describes. In MIG mode ``DCGM_FI_DEV_GPU_UTIL``
is not published: ``busy_fraction`` is then absent, and the whole-GPU profiling series are the
activity (in the A100 capture they equal the one busy ``1g.5gb`` instance's: DCGM does not weight
them by the instance's share of the GPU, so they overstate a partly used GPU rather than hide
work). A MIG GPU with neither kind of whole-GPU series has its activity absent, its instances'
readings beside it. A scrape that fails, or text that does not parse, is a SOURCE_ERROR
anomaly with the error; the sample then has no devices.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from attestor.telemetry import (
    AnomalyKind,
    DeviceReading,
    MigInstanceReading,
    Sample,
    SourceAnomaly,
    SourceKind,
)
from pausewatch.errors import PausewatchError

__all__ = ["DcgmExporterSource", "parse_dcgm_metrics"]

_MIB = 1024.0 * 1024.0


def _instances(
    series: dict[tuple[str, str], dict[str, float]], profiles: dict[tuple[str, str], str], uuid: str
) -> tuple[MigInstanceReading, ...]:
    out: list[MigInstanceReading] = []
    for (parent, gi), m in sorted(series.items(), key=lambda kv: (kv[0][0], _int(kv[0][1]) or 0)):
        if parent != uuid:
            continue
        used = m.get("DCGM_FI_DEV_FB_USED")
        out.append(
            MigInstanceReading(
                gpu_instance_id=_int(gi),
                profile=profiles.get((parent, gi), ""),
                sm_active=m.get("DCGM_FI_PROF_SM_ACTIVE"),
                tensor_active=m.get("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"),
                engine_active=m.get("DCGM_FI_PROF_GR_ENGINE_ACTIVE"),
                memory_used_bytes=None if used is None else used * _MIB,  # MiB -> bytes
            )
        )
    return tuple(out)


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def parse_dcgm_metrics(text: str) -> tuple[list[DeviceReading], str]:
    """Devices in a scrape and the driver version label; FormatError-free: raises ValueError."""
    series: dict[str, dict[str, float]] = {}
    labels_of: dict[str, dict[str, str]] = {}
    mig_series: dict[tuple[str, str], dict[str, float]] = {}
    profiles: dict[tuple[str, str], str] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            uuid = s.labels.get("UUID")
            if not uuid:
                continue
            # prometheus_client names counter samples "<family>_total"; key by the DCGM field name.
            name = family.name if family.type == "counter" else s.name
            if "GPU_I_ID" in s.labels:
                key = (uuid, s.labels["GPU_I_ID"])
                mig_series.setdefault(key, {})[name] = float(s.value)
                profiles.setdefault(key, s.labels.get("GPU_I_PROFILE", ""))
                continue
            series.setdefault(uuid, {})[name] = float(s.value)
            labels_of.setdefault(uuid, dict(s.labels))
    driver = ""
    devices: list[DeviceReading] = []
    for uuid in sorted(series, key=lambda u: int(labels_of[u].get("gpu", "0") or 0)):
        m = series[uuid]
        labels = labels_of[uuid]
        driver = driver or labels.get("DCGM_FI_DRIVER_VERSION", "")

        def get(name: str, m: dict[str, float] = m) -> float | None:
            return m.get(name)

        def add(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else a + b

        energy_mj = get("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION")
        util = get("DCGM_FI_DEV_GPU_UTIL")
        used = get("DCGM_FI_DEV_FB_USED")
        free = get("DCGM_FI_DEV_FB_FREE")
        reserved = get("DCGM_FI_DEV_FB_RESERVED") or 0.0
        instances = _instances(mig_series, profiles, uuid)
        limit = get("DCGM_FI_DEV_ENFORCED_POWER_LIMIT")
        if limit is None:
            limit = get("DCGM_FI_DEV_POWER_MGMT_LIMIT")
        devices.append(
            DeviceReading(
                uuid=uuid,
                model=labels.get("modelName", ""),
                power_w=get("DCGM_FI_DEV_POWER_USAGE"),
                energy_counter_j=None if energy_mj is None else energy_mj / 1000.0,
                busy_fraction=None if util is None else util / 100.0,
                sm_active=get("DCGM_FI_PROF_SM_ACTIVE"),
                tensor_active=get("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"),
                memory_used_bytes=None if used is None else used * _MIB,
                memory_total_bytes=None if used is None or free is None else (used + free + reserved) * _MIB,
                power_limit_w=limit,
                pcie_rate_bps=add(get("DCGM_FI_PROF_PCIE_TX_BYTES"), get("DCGM_FI_PROF_PCIE_RX_BYTES")),
                nvlink_rate_bps=add(get("DCGM_FI_PROF_NVLINK_TX_BYTES"), get("DCGM_FI_PROF_NVLINK_RX_BYTES")),
                mig_enabled=True if instances else None,
                mig_instances=instances,
            )
        )
    return devices, driver


class DcgmExporterSource:
    """Scrapes a dcgm-exporter ``/metrics`` endpoint through ``fetch`` (an ``HttpFetcher``)."""

    def __init__(self, fetch: Callable[[], str]) -> None:
        self._fetch = fetch

    @property
    def kind(self) -> SourceKind:
        return SourceKind.DCGM_EXPORTER

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        try:
            text = self._fetch()
            devices, driver = parse_dcgm_metrics(text)
        except (PausewatchError, ValueError, TypeError) as e:
            anomaly = SourceAnomaly(AnomalyKind.SOURCE_ERROR, "dcgm_scrape", str(e)[:200])
            return Sample(now_ns, SourceKind.DCGM_EXPORTER, "", (), None, (anomaly,))
        version = f"dcgm-exporter driver {driver}" if driver else "dcgm-exporter"
        return Sample(now_ns, SourceKind.DCGM_EXPORTER, version, tuple(devices))
