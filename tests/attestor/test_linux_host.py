"""The Linux host source: live on this machine, and on crafted sysfs/procfs trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from attestor.aggregate import Aggregator
from attestor.sources.linux_host import LinuxHostSource
from attestor.telemetry import AnomalyKind

NS = 10**9


def test_live_host_counters_move_forward() -> None:
    src = LinuxHostSource()
    first = src.sample(0)
    busy = sum(i * i for i in range(200_000))  # burn a little CPU between the two samples
    second = src.sample(NS)
    assert busy > 0
    assert first.host is not None
    assert second.host is not None
    assert first.host.cpu_busy_s_counter is not None
    assert second.host.cpu_busy_s_counter is not None
    assert second.host.cpu_busy_s_counter >= first.host.cpu_busy_s_counter
    assert second.host.net_bytes_counter is not None
    agg = Aggregator()
    agg.add(first)
    agg.add(second)
    node = agg.close(0, NS).node
    assert node.HasField("cpu_busy_s")
    assert node.cpu_busy_s >= 0
    assert node.host_source.kind == 4  # SOURCE_KIND_LINUX_HOST


def _tree(root: Path, *, energy: int, ib_words: int, stat: str | None = None) -> None:
    (root / "proc/net").mkdir(parents=True, exist_ok=True)
    (root / "proc/stat").write_text(
        stat or "cpu  100 0 50 1000 10 5 5 0 0 0\ncpu0 100 0 50 1000 10 5 5 0 0 0\n"
    )
    (root / "proc/net/dev").write_text(
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
        "    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n"
        "  eth0: 1000 10 0 0 0 0 0 0 500 5 0 0 0 0 0 0\n"
    )
    rapl = root / "sys/class/powercap/intel-rapl:0"
    rapl.mkdir(parents=True, exist_ok=True)
    (rapl / "energy_uj").write_text(f"{energy}\n")
    (rapl / "max_energy_range_uj").write_text("262143328850\n")
    ib = root / "sys/class/infiniband/mlx5_0/ports/1/counters"
    ib.mkdir(parents=True, exist_ok=True)
    (ib / "port_rcv_data").write_text(f"{ib_words}\n")
    (ib / "port_xmit_data").write_text("0\n")


def test_rapl_wrap_and_infiniband_words(tmp_path: Path) -> None:
    _tree(tmp_path, energy=262_143_000_000, ib_words=100)
    src = LinuxHostSource(tmp_path)
    agg = Aggregator()
    agg.add(src.sample(0))
    _tree(tmp_path, energy=1_000_000, ib_words=350)  # wrapped at max_energy_range_uj
    wrapped = src.sample(NS)
    agg.add(wrapped)
    assert [a.kind for a in wrapped.anomalies] == [AnomalyKind.COUNTER_WRAP]
    node = agg.close(0, NS).node
    assert node.rapl_energy_j == pytest.approx((262_143_328_850 - 262_143_000_000 + 1_000_000) / 1e6)
    assert node.infiniband_bytes == 250 * 4  # data counters count 4-byte words
    assert node.net_bytes == 0  # counters did not move; loopback is not counted


def test_garbage_files_are_source_errors(tmp_path: Path) -> None:
    _tree(tmp_path, energy=5, ib_words=1, stat="cpu  lots of time\n")
    (tmp_path / "sys/class/infiniband/mlx5_0/ports/1/counters/port_rcv_data").write_text("\x00\xff")
    sample = LinuxHostSource(tmp_path).sample(0)
    assert sample.host is not None
    assert sample.host.cpu_busy_s_counter is None
    metrics = {a.metric for a in sample.anomalies if a.kind is AnomalyKind.SOURCE_ERROR}
    assert {"cpu_busy_s", "infiniband_bytes"} <= metrics


def test_missing_tree_means_absent(tmp_path: Path) -> None:
    sample = LinuxHostSource(tmp_path).sample(0)
    assert sample.host is not None
    assert sample.host.cpu_busy_s_counter is None
    assert sample.host.rapl_energy_counter_j is None
    assert sample.anomalies == ()
