"""Node- or facility-level power from a BMC over Redfish: the current and the deprecated schemas.

The configured URL may name any of these resources; links (``@odata.id`` paths, always fetched
from the same origin) are followed from it:

- a **Chassis** (``/redfish/v1/Chassis/<id>``): its ``EnvironmentMetrics``, then its ``Power``,
  then its ``PowerSubsystem``, the first that gives a node reading wins;
- **EnvironmentMetrics** (Redfish 2020.4 and later): ``PowerWatts.Reading``;
- **Power** (``Power.v1_x``, deprecated by DMTF in 2020.4, still what most BMCs serve):
  ``PowerControl[i].PowerConsumedWatts`` of the entry for the whole chassis;
- **PowerSubsystem** (2020.4 and later): ``PowerSupplies`` -> each supply's ``Metrics``
  (PowerSupplyMetrics) -> ``InputPowerWatts.Reading``, summed over the installed supplies;
- a **Sensor** (``/Sensors/<id>`` with ``ReadingType`` Power, e.g. a Cisco/AMI
  ``power_PWR_System``): ``Reading``;
- a one-member **Chassis collection** (more members: the operator must name the chassis).

Which reading is node power. The node's intake is what the BMC reports as *consumed*:
``EnvironmentMetrics.PowerWatts`` of the chassis, or ``PowerControl[].PowerConsumedWatts`` of
the entry that covers the chassis (entries whose ``PhysicalContext`` is a sub-domain, such as
Lenovo's CPU and memory sub-system entries, are skipped; never summed). The sum of the PSU
*outputs* is never used: it is DC after the supplies' conversion loss (5-10 % below intake, more
at low load), it leaves out what standby and redundant supplies draw, and PSU fields of the old
``Power.PowerSupplies[]`` array are not readings one can trust (the Dell R640 capture lists
``PowerInputWatts`` 900 -- the supply's rating -- and ``PowerOutputWatts`` 203 beside 429 W
consumed; HPE iLO gives ``LastPowerOutputWatts``, an output). Only where a BMC gives no consumed
reading at all does the source fall back to the sum of the supplies' ``InputPowerWatts``
*sensor* readings (PowerSupplyMetrics), which is the AC the node draws at the plug; that method
is named in the sample's version so a reader sees which one was used, and if any installed
supply lacks a reading the sum is unavailable (a partial sum would understate the node).

Vendors: Dell iDRAC (``System.Embedded.1``, one ``System Power Control`` entry, EnvironmentMetrics
and PowerSubsystem from iDRAC9 6.x), HPE iLO (``PowerControl`` entries without ``Name`` or
``PhysicalContext``, iLO 4's ``#Power.1.0.1.Power`` type string and ``Oem.Hp`` instead of
``Oem.Hpe``), Supermicro (``System Power Control``), Lenovo XCC (several ``PowerControl`` entries,
the first for the server with ``PhysicalContext`` Intake, then CPU/memory sub-systems) all come
down to the same standard properties: ``Oem`` sections are not read.

Units: Redfish gives power in W (no conversion), ``EnergyJoules`` in J, ``EnergykWh`` in kWh
(x 3 600 000 -> J); a Sensor's ``ReadingUnits`` ``W``/``kW`` (x1000)/``J``/``kW.h`` (x 3.6e6).
A number given as a JSON string (``"429"``) is read; any other non-number is unavailable with
its raw text as a SOURCE_ERROR anomaly. Absent or ``null``: unavailable, never 0.

For a node the reading goes into ``HostReading.bmc_power_w`` (and an energy counter into
``bmc_energy_counter_j``); in meter mode (``as_meter=True``) it is the meter's single channel
(one ``DeviceReading`` with uuid ``meter_id``), whose energy counter is only a joule counter
(``EnergyJoules``): a kWh counter is too coarse for a period's energy.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from attestor.telemetry import AnomalyKind, DeviceReading, HostReading, Sample, SourceAnomaly, SourceKind
from pausewatch.errors import LimitExceededError, PausewatchError

__all__ = ["NodePower", "RedfishPowerSource", "read_node_power"]

_J_PER_KWH = 3_600_000.0
_MAX_DOCUMENTS = 64  # GETs one reading may take (a chassis with many supplies); a bound for a hostile BMC
# PowerControl entries for part of the node (DMTF PhysicalContext values): not the node's intake.
_SUB_DOMAINS = frozenset({
    "CPU", "CPUSubsystem", "Memory", "MemorySubsystem", "StorageDevice", "StorageSubsystem", "GPU",
    "GPUSubsystem", "Accelerator", "ASIC", "NetworkingDevice", "Fan", "Backplane", "Chipset",
    "VoltageRegulator", "ComputeBay", "StorageBay", "NetworkBay", "ExpansionBay", "PowerSupplyBay",
})
# Sensor ReadingUnits (UCUM, as Redfish uses them) -> (what it measures, scale to SI).
_SENSOR_UNITS = {
    "W": ("power", 1.0),
    "kW": ("power", 1000.0),
    "J": ("energy", 1.0),
    "kW.h": ("energy", _J_PER_KWH),
}


@dataclass
class NodePower:
    """What one Redfish read found. ``problems``: (metric, raw text or reason) of what was not read."""

    power_w: float | None = None
    energy_j: float | None = None  # cumulative, J
    energy_is_joules: bool = False  # the counter is EnergyJoules (fine enough for a meter's periods)
    method: str = ""  # which property gave the power, e.g. "EnvironmentMetrics.PowerWatts"
    schema: str = ""  # @odata.type of the resource that gave it
    resolved: str = ""  # the path to start from next time
    problems: list[tuple[str, str]] = field(default_factory=list)


def _type(doc: dict[str, Any]) -> str:
    """The resource type (``Power`` of ``#Power.v1_5_0.Power`` or HPE's ``#Power.1.0.1.Power``)."""
    odata = doc.get("@odata.type")
    if isinstance(odata, str) and odata.lstrip("#"):
        name = odata.lstrip("#").split(".", 1)[0]
        return "Collection" if name.endswith("Collection") else name
    # No @odata.type (trimmed captures, some older BMCs): recognise by the properties.
    if "PowerControl" in doc:
        return "Power"
    if "PowerWatts" in doc or "EnergykWh" in doc or "EnergyJoules" in doc:
        return "EnvironmentMetrics"
    if "ReadingType" in doc or ("Reading" in doc and "ReadingUnits" in doc):
        return "Sensor"
    if "InputPowerWatts" in doc:
        return "PowerSupplyMetrics"
    if "PowerSupplies" in doc:
        return "PowerSubsystem"
    if "Members" in doc:
        return "Collection"
    if any(k in doc for k in ("EnvironmentMetrics", "Power", "PowerSubsystem")):
        return "Chassis"
    return ""


def _link(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if isinstance(value, dict):
        target = value.get("@odata.id")
        if isinstance(target, str) and target.startswith("/"):
            return target
    return None


def _members(collection: dict[str, Any]) -> list[str]:
    """The member paths of a Redfish collection (entries that are not paths are left out)."""
    members = collection.get("Members")
    if not isinstance(members, list):
        return []
    paths = [m.get("@odata.id") for m in members if isinstance(m, dict)]
    return [p for p in paths if isinstance(p, str) and p.startswith("/")]


def _number(value: Any, metric: str, found: NodePower, scale: float = 1.0) -> float | None:
    """A JSON number (or a number in a string) times ``scale``; else None with a problem noted."""
    if value is None:
        return None
    if isinstance(value, bool):
        found.problems.append((metric, str(value)))
        return None
    if isinstance(value, (int, float)):
        return float(value) * scale
    if isinstance(value, str):
        try:
            return float(value.strip()) * scale
        except ValueError:
            pass
    found.problems.append((metric, str(value)[:80]))
    return None


def _excerpt(doc: dict[str, Any], name: str, found: NodePower, scale: float = 1.0) -> float | None:
    """``doc[name].Reading`` of a Redfish sensor excerpt."""
    excerpt = doc.get(name)
    if excerpt is None:
        return None
    if not isinstance(excerpt, dict):
        found.problems.append((name, str(excerpt)[:80]))
        return None
    return _number(excerpt.get("Reading"), f"{name}.Reading", found, scale)


class _Reader:
    """Follows links from one start document; every GET counts against ``_MAX_DOCUMENTS``."""

    def __init__(self, fetch: Callable[[str], str]) -> None:
        self._fetch = fetch
        self.gets = 0

    def get(self, path: str) -> dict[str, Any]:
        self.gets += 1
        if self.gets > _MAX_DOCUMENTS:
            raise LimitExceededError(f"more than {_MAX_DOCUMENTS} Redfish resources for one reading")
        try:
            doc: Any = json.loads(self._fetch(path))
        except json.JSONDecodeError as e:
            raise ValueError(f"Redfish {path or 'resource'} is not JSON: {e}") from e
        if not isinstance(doc, dict):
            raise ValueError(f"Redfish {path or 'resource'} is not an object")
        return doc

    def read(self, path: str, found: NodePower, depth: int = 0) -> None:
        doc = self.get(path)
        kind = _type(doc)
        if kind == "Collection" and depth == 0:
            members = _members(doc)
            if len(members) != 1:
                found.problems.append(("chassis", f"{len(members)} members: configure the node's chassis"))
                return
            self.read(members[0], found, depth + 1)
        elif kind == "Chassis":
            for name in ("EnvironmentMetrics", "Power", "PowerSubsystem"):
                target = _link(doc, name)
                if target is not None and found.power_w is None:
                    try:
                        self._leaf(target, found)
                    except LimitExceededError:  # the walk's bound, or a response too big: give up
                        raise
                    except (PausewatchError, ValueError) as e:  # one resource failing: try the next
                        found.problems.append((name, str(e)[:200]))
            if found.power_w is not None:  # what failed before an alternative answered is moot
                found.problems = [p for p in found.problems if p[0].startswith("Energy")]
            elif not any(_link(doc, n) for n in ("EnvironmentMetrics", "Power", "PowerSubsystem")):
                found.problems.append(("bmc_power_w", "the chassis links no power resource"))
            # Linked resources whose readings are null: absent for now, like N/A, not an error.
        else:
            self._leaf(path, found, doc)

    def _leaf(self, path: str, found: NodePower, doc: dict[str, Any] | None = None) -> None:
        """Read one power resource into ``found`` (power only if none was found before)."""
        doc = self.get(path) if doc is None else doc
        kind = _type(doc)
        schema = str(doc.get("@odata.type", kind)).lstrip("#")
        power: float | None = None
        method = ""
        if kind == "EnvironmentMetrics":
            joules = _excerpt(doc, "EnergyJoules", found)  # J
            kwh = _excerpt(doc, "EnergykWh", found, _J_PER_KWH)  # kWh -> J
            if found.energy_j is None and (joules is not None or kwh is not None):
                found.energy_j = joules if joules is not None else kwh
                found.energy_is_joules = joules is not None
            power, method = _excerpt(doc, "PowerWatts", found), "EnvironmentMetrics.PowerWatts"  # W
        elif kind == "Power":
            power, method = self._power_control(doc, found)
        elif kind == "PowerSubsystem":
            power, method = self._supply_inputs(doc, found)
        elif kind == "Sensor":
            unit = doc.get("ReadingUnits")
            measures, scale = _SENSOR_UNITS.get(unit if isinstance(unit, str) else "", ("", 1.0))
            if measures == "power":
                power, method = _number(doc.get("Reading"), "Sensor.Reading", found, scale), "Sensor.Reading"
            elif measures == "energy":
                found.energy_j = _number(doc.get("Reading"), "Sensor.Reading", found, scale)
                found.energy_is_joules = unit == "J"
            else:
                found.problems.append(("Sensor.ReadingUnits", f"{unit!s:.40}: not a power or energy sensor"))
        else:
            found.problems.append(("bmc_power_w", f"{schema or 'unknown resource'}: no power in it"))
        if power is not None and found.power_w is None:  # NaN too: passed on as read, the aggregator flags it
            found.power_w, found.method, found.schema, found.resolved = power, method, schema, path

    @staticmethod
    def _power_control(doc: dict[str, Any], found: NodePower) -> tuple[float | None, str]:
        controls = doc.get("PowerControl")
        if not isinstance(controls, list) or not controls:
            found.problems.append(("PowerControl", "absent or empty"))
            return None, ""
        for i, entry in enumerate(controls):
            if not isinstance(entry, dict) or entry.get("PhysicalContext") in _SUB_DOMAINS:
                continue
            value = _number(entry.get("PowerConsumedWatts"), f"PowerControl[{i}].PowerConsumedWatts", found)
            if value is not None:
                return value, f"Power.PowerControl[{i}].PowerConsumedWatts"
        return None, ""

    def _supply_inputs(self, doc: dict[str, Any], found: NodePower) -> tuple[float | None, str]:
        """Sum of every installed supply's InputPowerWatts sensor; None if any is missing."""
        collection = _link(doc, "PowerSupplies")
        if collection is None:
            found.problems.append(("PowerSupplies", "no link"))
            return None, ""
        total = 0.0
        counted = 0
        for member in _members(self.get(collection)):
            supply = self.get(member)
            status = supply.get("Status")
            if isinstance(status, dict) and status.get("State") == "Absent":
                continue
            metrics = _link(supply, "Metrics")
            value = None
            if metrics is not None:
                value = _excerpt(self.get(metrics), "InputPowerWatts", found)  # W
            if value is None:
                found.problems.append(("bmc_power_w", f"{member}: no InputPowerWatts reading, so no PSU sum"))
                return None, ""
            total += value
            counted += 1
        if counted == 0:
            found.problems.append(("bmc_power_w", "no installed power supply"))
            return None, ""
        return total, f"PowerSubsystem: sum of {counted} PSU InputPowerWatts"


def read_node_power(fetch: Callable[[str], str], path: str = "") -> NodePower:
    """Read the node's power from ``path`` (``""``: the configured URL) through ``fetch``.

    ValueError when the first document is not a JSON object, LimitExceededError when the link
    walk exceeds its bound;
    missing or malformed readings are ``problems``, never exceptions.
    """
    found = NodePower()
    _Reader(fetch).read(path, found)
    return found


class RedfishPowerSource:
    """Polls a BMC's Redfish service through ``fetch(path)`` (``""``: the configured URL).

    The resource that gave a reading is remembered and read directly next time; when it stops
    giving one, the next sample starts again from the configured URL.
    """

    def __init__(
        self, fetch: Callable[[str], str], *, as_meter: bool = False, meter_id: str = "meter"
    ) -> None:
        self._fetch = fetch
        self._as_meter = as_meter
        self._meter_id = meter_id
        self._start = ""

    @property
    def kind(self) -> SourceKind:
        return SourceKind.REDFISH

    def close(self) -> None:
        return None

    def sample(self, now_ns: int) -> Sample:
        try:
            found = read_node_power(self._fetch, self._start)
        except (PausewatchError, ValueError) as e:
            self._start = ""
            anomaly = SourceAnomaly(AnomalyKind.SOURCE_ERROR, "redfish_power", str(e)[:200])
            return Sample(now_ns, SourceKind.REDFISH, "", (), None, (anomaly,))
        self._start = found.resolved if found.power_w is not None else ""
        anomalies = tuple(
            SourceAnomaly(AnomalyKind.SOURCE_ERROR, metric, raw[:200]) for metric, raw in found.problems
        )
        version = f"{found.schema} {found.method}".strip()
        if self._as_meter:
            device = DeviceReading(
                uuid=self._meter_id,
                model="redfish",
                power_w=found.power_w,
                energy_counter_j=found.energy_j if found.energy_is_joules else None,
            )
            return Sample(now_ns, SourceKind.REDFISH, version, (device,), None, anomalies)
        host = HostReading(bmc_power_w=found.power_w, bmc_energy_counter_j=found.energy_j)
        return Sample(now_ns, SourceKind.REDFISH, version, (), host, anomalies)
