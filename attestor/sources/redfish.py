"""Node- or facility-level power from a BMC over Redfish (``Power.v1_x`` schema).

``PowerControl[0].PowerConsumedWatts`` is the instantaneous intake in W (Redfish's unit; no
conversion). Redfish gives no energy counter in ``Power``, so energy is integrated from power.
For a node the reading goes into ``HostReading.bmc_power_w``; in meter mode the same reading is
the meter's single channel (``as_meter=True``: one ``DeviceReading`` with uuid ``meter_id``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from attestor.telemetry import AnomalyKind, DeviceReading, HostReading, Sample, SourceAnomaly, SourceKind
from pausewatch.errors import PausewatchError

__all__ = ["RedfishPowerSource", "parse_redfish_power"]


def parse_redfish_power(text: str) -> tuple[float | str | None, str]:
    """(PowerConsumedWatts, firmware-ish version). The value is returned raw when not a number."""
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"Redfish Power is not JSON: {e}") from e
    if not isinstance(doc, dict):
        raise ValueError("Redfish Power document is not an object")
    controls = doc.get("PowerControl")
    if not isinstance(controls, list) or not controls or not isinstance(controls[0], dict):
        raise ValueError("Redfish Power has no PowerControl entry")
    value = controls[0].get("PowerConsumedWatts")
    version = str(doc.get("@odata.type", "Redfish Power")).lstrip("#")
    if value is None:
        return None, version
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)[:80], version
    return float(value), version


class RedfishPowerSource:
    """Polls a Redfish ``/redfish/v1/Chassis/<id>/Power`` resource through ``fetch``."""

    def __init__(self, fetch: Callable[[], str], *, as_meter: bool = False, meter_id: str = "meter") -> None:
        self._fetch = fetch
        self._as_meter = as_meter
        self._meter_id = meter_id

    @property
    def kind(self) -> SourceKind:
        return SourceKind.REDFISH

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        try:
            value, version = parse_redfish_power(self._fetch())
        except (PausewatchError, ValueError) as e:
            anomaly = SourceAnomaly(AnomalyKind.SOURCE_ERROR, "redfish_power", str(e)[:200])
            return Sample(now_ns, SourceKind.REDFISH, "", (), None, (anomaly,))
        anomalies: tuple[SourceAnomaly, ...] = ()
        if isinstance(value, str):
            anomalies = (SourceAnomaly(AnomalyKind.SOURCE_ERROR, "bmc_power_w", value),)
            value = None
        if self._as_meter:
            device = DeviceReading(uuid=self._meter_id, model="redfish", power_w=value)
            return Sample(now_ns, SourceKind.REDFISH, version, (device,), None, anomalies)
        return Sample(now_ns, SourceKind.REDFISH, version, (), HostReading(bmc_power_w=value), anomalies)
