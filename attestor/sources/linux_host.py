"""The Linux host: CPU, RAPL energy, hwmon power, InfiniBand and network counters.

Files read (under ``root``, "/" in production; tests point it at a crafted tree), and units:

- ``/proc/stat`` first ``cpu`` line: ticks of ``1/USER_HZ`` s (``os.sysconf("SC_CLK_TCK")``).
  Busy = user + nice + system + irq + softirq + steal (guest time is already inside user);
  idle and iowait are not busy. -> CPU-seconds (ticks / USER_HZ).
- ``/sys/class/powercap/intel-rapl:<n>/energy_uj``: µJ, a package counter that wraps at
  ``max_energy_range_uj``. Each package is unwrapped here (a wrap adds the range and records a
  COUNTER_WRAP anomaly with the raw value) and the sum is handed on in J (/1e6). A counter that
  goes back by less than a wrap would explain is a COUNTER_RESET and restarts accounting.
- ``/sys/class/hwmon/hwmon*/power*_input``: µW -> W (/1e6), summed: node power where a board
  exposes it (only used when ``hwmon_as_node_power``; it then fills ``bmc_power_w``).
- ``/sys/class/infiniband/<dev>/ports/<p>/counters/port_{rcv,xmit}_data``: counts of 4-byte
  words (IBA spec) -> bytes (x4).
- ``/proc/net/dev``: bytes received and transmitted per interface; ``lo`` is left out.

A file that is missing means "not on this machine" (absent); one that exists but cannot be
read or parsed is a SOURCE_ERROR anomaly with the raw text.
"""

from __future__ import annotations

import os
from pathlib import Path

from attestor.telemetry import AnomalyKind, HostReading, Sample, SourceAnomaly, SourceKind

__all__ = ["LinuxHostSource"]

_UJ_PER_J = 1e6
_UW_PER_W = 1e6
_IB_WORD_BYTES = 4


class LinuxHostSource:
    """Reads the host counters on every sample; pure file reads, no subprocesses."""

    def __init__(self, root: Path = Path("/"), *, hwmon_as_node_power: bool = False) -> None:
        self._root = root
        self._hz = float(os.sysconf("SC_CLK_TCK"))
        self._hwmon = hwmon_as_node_power
        self._rapl_last: dict[str, float] = {}  # package -> last raw µJ
        self._rapl_total_uj: dict[str, float] = {}  # package -> unwrapped µJ
        self._version = f"linux {os.uname().release}"

    @property
    def kind(self) -> SourceKind:
        return SourceKind.LINUX_HOST

    def close(self) -> None:
        return None

    def _read(self, rel: str, anomalies: list[SourceAnomaly], metric: str) -> str | None:
        path = self._root / rel
        try:
            return path.read_text(encoding="ascii", errors="replace")
        except FileNotFoundError:
            return None
        except OSError as e:
            # RAPL counters are root-only on recent kernels: that is "not available", not an error.
            if isinstance(e, PermissionError) and metric == "rapl_energy_j":
                return None
            anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, metric, f"{rel}: {e.strerror}"))
            return None

    def sample(self, now_ns: int) -> Sample:
        anomalies: list[SourceAnomaly] = []
        host = HostReading(
            cpu_busy_s_counter=self._cpu(anomalies),
            net_bytes_counter=self._net(anomalies),
            infiniband_bytes_counter=self._infiniband(anomalies),
            rapl_energy_counter_j=self._rapl(anomalies),
            bmc_power_w=self._hwmon_power(anomalies) if self._hwmon else None,
        )
        return Sample(now_ns, SourceKind.LINUX_HOST, self._version, (), host, tuple(anomalies))

    def _cpu(self, anomalies: list[SourceAnomaly]) -> float | None:
        text = self._read("proc/stat", anomalies, "cpu_busy_s")
        if text is None:
            return None
        for line in text.splitlines():
            fields = line.split()
            if fields and fields[0] == "cpu":
                try:
                    ticks = [int(x) for x in fields[1:9]]
                except ValueError:
                    break
                if len(ticks) < 4:
                    break
                ticks += [0] * (8 - len(ticks))
                user, nice, system, _idle, _iowait, irq, softirq, steal = ticks
                return (user + nice + system + irq + softirq + steal) / self._hz
        anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "cpu_busy_s", text[:80]))
        return None

    def _net(self, anomalies: list[SourceAnomaly]) -> float | None:
        text = self._read("proc/net/dev", anomalies, "net_bytes")
        if text is None:
            return None
        total = 0
        for line in text.splitlines()[2:]:
            name, sep, rest = line.partition(":")
            if not sep:
                continue
            if name.strip() == "lo":
                continue
            cols = rest.split()
            try:
                total += int(cols[0]) + int(cols[8])  # rx bytes, tx bytes
            except (IndexError, ValueError):
                anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "net_bytes", line.strip()[:80]))
                return None
        return float(total)

    def _infiniband(self, anomalies: list[SourceAnomaly]) -> float | None:
        base = self._root / "sys/class/infiniband"
        if not base.is_dir():
            return None
        words = 0
        found = False
        for counters in sorted(base.glob("*/ports/*/counters")):
            for name in ("port_rcv_data", "port_xmit_data"):
                rel = str((counters / name).relative_to(self._root))
                text = self._read(rel, anomalies, "infiniband_bytes")
                if text is None:
                    continue
                try:
                    words += int(text.strip())
                    found = True
                except ValueError:
                    anomalies.append(
                        SourceAnomaly(AnomalyKind.SOURCE_ERROR, "infiniband_bytes", text.strip()[:80])
                    )
        return float(words * _IB_WORD_BYTES) if found else None

    def _rapl(self, anomalies: list[SourceAnomaly]) -> float | None:
        base = self._root / "sys/class/powercap"
        if not base.is_dir():
            return None
        found = False
        for zone in sorted(base.glob("intel-rapl:*")):
            if zone.name.count(":") != 1:  # subzones (core, uncore, dram) are inside the package
                continue
            rel = str(zone.relative_to(self._root))
            energy = self._read(f"{rel}/energy_uj", anomalies, "rapl_energy_j")
            if energy is None:
                continue
            range_text = self._read(f"{rel}/max_energy_range_uj", anomalies, "rapl_energy_j")
            try:
                raw = float(int(energy.strip()))
                wrap = float(int(range_text.strip())) if range_text else None
            except ValueError:
                anomalies.append(
                    SourceAnomaly(AnomalyKind.SOURCE_ERROR, "rapl_energy_j", energy.strip()[:80])
                )
                continue
            found = True
            last = self._rapl_last.get(zone.name)
            total = self._rapl_total_uj.get(zone.name, 0.0)
            if last is not None:
                if raw >= last:
                    total += raw - last
                elif wrap is not None and wrap > last:
                    total += wrap - last + raw
                    anomalies.append(
                        SourceAnomaly(
                            AnomalyKind.COUNTER_WRAP,
                            "rapl_energy_j",
                            f"{energy.strip()} uJ (range {range_text and range_text.strip()})",
                        )
                    )
                else:
                    anomalies.append(
                        SourceAnomaly(AnomalyKind.COUNTER_RESET, "rapl_energy_j", f"{energy.strip()} uJ")
                    )
            self._rapl_last[zone.name] = raw
            self._rapl_total_uj[zone.name] = total
        return sum(self._rapl_total_uj.values()) / _UJ_PER_J if found else None

    def _hwmon_power(self, anomalies: list[SourceAnomaly]) -> float | None:
        base = self._root / "sys/class/hwmon"
        if not base.is_dir():
            return None
        total = 0.0
        found = False
        for path in sorted(base.glob("hwmon*/power*_input")):
            text = self._read(str(path.relative_to(self._root)), anomalies, "hwmon_power_w")
            if text is None:
                continue
            try:
                total += int(text.strip()) / _UW_PER_W
                found = True
            except ValueError:
                anomalies.append(SourceAnomaly(AnomalyKind.SOURCE_ERROR, "hwmon_power_w", text.strip()[:80]))
        return total if found else None
