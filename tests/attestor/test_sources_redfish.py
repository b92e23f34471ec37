"""Redfish node power: the real Dell capture, DMTF-schema fixtures per vendor, hostile BMCs.

Fixtures under fixtures/redfish/ are services (path -> document) built from DMTF's schemas; each
states its ``_source`` and the reading it must give (``expect``).
"""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from attestor.sources._http import HttpFetcher
from attestor.sources.redfish import RedfishPowerSource, read_node_power
from attestor.telemetry import AnomalyKind
from pausewatch.errors import EnvironmentFaultError
from tests.attestor.data import data_file

FIXTURES = Path(__file__).parent / "fixtures" / "redfish"
SERVICES = sorted(FIXTURES.glob("*.json"))


def _service(resources: dict[str, Any], start: str) -> Callable[[str], str]:
    def fetch(path: str) -> str:
        doc = resources.get(path or start)
        if doc is None:
            raise EnvironmentFaultError(f"GET {path}: 404")
        return doc if isinstance(doc, str) else json.dumps(doc)

    return fetch


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return doc


@pytest.mark.parametrize("path", SERVICES, ids=[p.stem for p in SERVICES])
def test_each_vendor_fixture_gives_the_consumed_watts(path: Path) -> None:
    service = json.loads(path.read_text())
    assert service["_source"]
    found = read_node_power(_service(service["resources"], service["start"]))
    expect = service["expect"]
    assert found.power_w == pytest.approx(expect["power_w"])
    assert found.method == expect["method"]
    if "energy_j" in expect:
        assert found.energy_j == pytest.approx(expect["energy_j"])
    assert found.problems == []


def test_real_dell_capture_through_its_chassis() -> None:
    chassis = data_file("bmc-redfish-power", "dell", "dell_chassis.json").read_text()
    power = data_file("bmc-redfish-power", "dell", "dell_power.json").read_text()
    resources = {
        "/redfish/v1/Chassis/System.Embedded.1": chassis,
        "/redfish/v1/Chassis/System.Embedded.1/Power": power,
    }
    found = read_node_power(_service(resources, "/redfish/v1/Chassis/System.Embedded.1"))
    # PowerConsumedWatts, not the PSU's PowerInputWatts 900 (its rating) nor its output 203.
    assert found.power_w == 429.0
    assert found.method == "Power.PowerControl[0].PowerConsumedWatts"
    assert found.schema.startswith("Power.v1_5_0")
    sample = RedfishPowerSource(_service(resources, "/redfish/v1/Chassis/System.Embedded.1")).sample(1)
    assert sample.host is not None
    assert sample.host.bmc_power_w == 429.0
    meter = RedfishPowerSource(lambda _p: power, as_meter=True, meter_id="a-meter").sample(1)
    assert meter.devices[0].uuid == "a-meter"
    assert meter.devices[0].power_w == 429.0


def test_environment_metrics_energy_counter_for_node_and_meter() -> None:
    service = _load("dell_idrac9_environment_metrics.json")
    fetch = _service(service["resources"], service["start"])
    node = RedfishPowerSource(fetch).sample(1)
    assert node.host is not None
    assert node.host.bmc_energy_counter_j == pytest.approx(15234.125 * 3_600_000)  # kWh -> J
    # A kWh counter is too coarse for a meter's periods: the meter integrates power instead.
    assert RedfishPowerSource(fetch, as_meter=True).sample(1).devices[0].energy_counter_j is None
    env = service["resources"]["/redfish/v1/Chassis/System.Embedded.1/EnvironmentMetrics"]
    env["EnergyJoules"] = {"Reading": 5.5e10}
    meter = RedfishPowerSource(fetch, as_meter=True).sample(2).devices[0]
    assert meter.energy_counter_j == 5.5e10
    assert meter.power_w == 612.0


def test_the_resource_that_answered_is_read_directly_next_time() -> None:
    service = _load("powersubsystem_only.json")
    seen: list[str] = []
    inner = _service(service["resources"], service["start"])

    def fetch(path: str) -> str:
        seen.append(path)
        return inner(path)

    src = RedfishPowerSource(fetch)
    src.sample(1)
    first = list(seen)
    seen.clear()
    assert src.sample(2).host.bmc_power_w == pytest.approx(810.5)  # type: ignore[union-attr]
    assert seen[0] == "/redfish/v1/Chassis/1/PowerSubsystem"
    assert len(seen) < len(first)


def test_psu_without_a_reading_makes_the_sum_unavailable_not_partial() -> None:
    service = _load("powersubsystem_only.json")
    metrics = service["resources"]["/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/1/Metrics"]
    metrics["InputPowerWatts"] = {"Reading": None}
    sample = RedfishPowerSource(_service(service["resources"], service["start"])).sample(1)
    assert sample.host is not None
    assert sample.host.bmc_power_w is None
    assert any("PowerSupplies/1" in a.raw_value for a in sample.anomalies)


def test_sub_system_power_controls_alone_give_no_node_power() -> None:
    service = _load("lenovo_xcc_power.json")
    power = service["resources"]["/redfish/v1/Chassis/1/Power"]
    power["PowerControl"] = power["PowerControl"][:2]  # only the CPU and memory entries
    found = read_node_power(_service(service["resources"], service["start"]))
    assert found.power_w is None  # never their sum, never one of them


@pytest.mark.parametrize(
    ("mutation", "metric"),
    [
        ({"PowerWatts": {"Reading": "lots"}}, "PowerWatts.Reading"),
        ({"PowerWatts": 612}, "PowerWatts"),  # a bare number where an excerpt belongs
        ({"PowerWatts": {"Reading": True}}, "PowerWatts.Reading"),
    ],
)
def test_wrong_types_are_unavailable_with_the_raw_text(mutation: dict[str, Any], metric: str) -> None:
    service = _load("dell_idrac9_environment_metrics.json")
    env = service["resources"]["/redfish/v1/Chassis/System.Embedded.1/EnvironmentMetrics"]
    env.update(mutation)
    del service["resources"]["/redfish/v1/Chassis/System.Embedded.1"]["Power"]
    del service["resources"]["/redfish/v1/Chassis/System.Embedded.1"]["PowerSubsystem"]
    sample = RedfishPowerSource(_service(service["resources"], service["start"])).sample(1)
    assert sample.host is not None
    assert sample.host.bmc_power_w is None
    assert metric in {a.metric for a in sample.anomalies}


def test_a_future_schema_version_with_unknown_properties_is_read() -> None:
    service = _load("dell_idrac9_environment_metrics.json")
    env = service["resources"]["/redfish/v1/Chassis/System.Embedded.1/EnvironmentMetrics"]
    env["@odata.type"] = "#EnvironmentMetrics.v9_0_0.EnvironmentMetrics"
    env["PowerWatts"]["FutureAccuracyClass"] = "0.5S"
    env["QuantumFlux"] = {"Reading": 1}
    found = read_node_power(_service(service["resources"], service["start"]))
    assert found.power_w == 612.0
    assert found.schema.startswith("EnvironmentMetrics.v9_0_0")


def test_string_numbers_and_trimmed_documents_without_odata_type() -> None:
    found = read_node_power(lambda _p: '{"PowerControl": [{"PowerConsumedWatts": "429"}]}')
    assert found.power_w == 429.0
    found = read_node_power(lambda _p: '{"PowerControl": [{"PowerConsumedWatts": null}]}')
    assert found.power_w is None


def test_hostile_bmcs_cost_a_source_error_not_a_crash() -> None:
    assert RedfishPowerSource(lambda _p: "[]").sample(1).anomalies[0].kind is AnomalyKind.SOURCE_ERROR
    assert RedfishPowerSource(lambda _p: "{not json").sample(1).anomalies[0].kind is AnomalyKind.SOURCE_ERROR
    bad = RedfishPowerSource(lambda _p: '{"PowerControl": [{"PowerConsumedWatts": "lots"}]}').sample(1)
    assert bad.host is not None
    assert bad.host.bmc_power_w is None
    assert bad.anomalies[0].raw_value == "lots"
    # A PowerSubsystem listing thousands of supplies: the walk stops at its bound.
    service = _load("powersubsystem_only.json")
    res = service["resources"]
    members = res["/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies"]["Members"]
    for n in range(3, 500):
        path = f"/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/{n}"
        members.append({"@odata.id": path})
        res[path] = copy.deepcopy(res["/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/0"])
    flood = RedfishPowerSource(_service(res, service["start"])).sample(1)
    assert flood.anomalies[0].kind is AnomalyKind.SOURCE_ERROR
    assert "more than" in flood.anomalies[0].raw_value
    # Several chassis and no choice made: unavailable, with what to do.
    many = {"Members": [{"@odata.id": "/redfish/v1/Chassis/1"}, {"@odata.id": "/redfish/v1/Chassis/2"}]}
    found = read_node_power(lambda _p: json.dumps(many))
    assert found.power_w is None
    assert "configure" in found.problems[0][1]


class _Bmc(BaseHTTPRequestHandler):
    resources: ClassVar[dict[str, Any]] = {}
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.asked.append(self.path)
        doc = self.resources.get(self.path)
        body = json.dumps(doc).encode() if doc is not None else b"{}"
        self.send_response(200 if doc is not None else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def bmc() -> Iterator[tuple[str, type[_Bmc]]]:
    service = _load("powersubsystem_only.json")
    handler = type("Bmc", (_Bmc,), {"resources": service["resources"], "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def test_links_are_followed_over_http_on_the_configured_origin_only(bmc: tuple[str, type[_Bmc]]) -> None:
    origin, handler = bmc
    fetch = HttpFetcher(f"{origin}/redfish/v1/Chassis/1", timeout_s=5.0)
    sample = RedfishPowerSource(fetch).sample(1)
    assert sample.host is not None
    assert sample.host.bmc_power_w == pytest.approx(810.5)
    assert "/redfish/v1/Chassis/1/PowerSubsystem/PowerSupplies/1/Metrics" in handler.asked
    for hostile in ("//evil.example/redfish/v1", "http://evil.example/x", "redfish/v1", "/a\r\nHost: x"):
        with pytest.raises(EnvironmentFaultError):
            fetch(hostile)


def test_what_failed_before_an_alternative_answered_is_not_an_anomaly() -> None:
    # A source anomaly voids the node's values for the period: only a reading that is really
    # missing may raise one. Here EnvironmentMetrics is broken and the deprecated Power answers.
    service = _load("dell_idrac9_environment_metrics.json")
    env = service["resources"]["/redfish/v1/Chassis/System.Embedded.1/EnvironmentMetrics"]
    env["PowerWatts"] = {"Reading": "lots"}
    sample = RedfishPowerSource(_service(service["resources"], service["start"])).sample(1)
    assert sample.host is not None
    assert sample.host.bmc_power_w == 608.0
    assert sample.version.endswith("Power.PowerControl[0].PowerConsumedWatts")
    assert sample.anomalies == ()


def _one(text: str) -> Callable[[str], str]:
    """A service that answers every path with one document (links lead back to it)."""
    return lambda _path: text


def test_every_capture_in_the_folder_reads_without_inventing() -> None:
    """Any BMC's capture in ../shared/data/bmc-redfish-power, one document at a time: a power
    resource gives a positive reading, anything else a reason, never an exception or a 0 W."""
    captures = sorted(data_file("bmc-redfish-power").rglob("*.json"))
    assert captures
    powers = 0
    for path in captures:
        found = read_node_power(_one(path.read_text()))
        assert found.power_w is None or found.power_w > 0, path.name
        assert found.power_w is not None or found.problems, path.name
        powers += found.power_w is not None
    assert powers >= 1


def test_a_linked_resource_that_fails_gives_way_to_the_next() -> None:
    service = _load("dell_idrac9_environment_metrics.json")
    del service["resources"]["/redfish/v1/Chassis/System.Embedded.1/EnvironmentMetrics"]  # 404
    found = read_node_power(_service(service["resources"], service["start"]))
    assert found.power_w == 608.0  # the deprecated Power answered
    assert found.problems == []


def test_null_readings_are_absent_not_errors_and_a_bare_chassis_says_why() -> None:
    service = _load("hpe_ilo5_power.json")
    service["resources"]["/redfish/v1/Chassis/1/Power"]["PowerControl"][0]["PowerConsumedWatts"] = None
    sample = RedfishPowerSource(_service(service["resources"], service["start"])).sample(1)
    assert sample.host is not None
    assert sample.host.bmc_power_w is None
    assert sample.anomalies == ()  # null: no reading now (a host powered off), never 0 W
    bare = {"@odata.type": "#Chassis.v1_23_0.Chassis", "Id": "1", "Thermal": {"@odata.id": "/t"}}
    found = read_node_power(lambda _p: json.dumps(bare))
    assert found.power_w is None
    assert found.problems == [("bmc_power_w", "the chassis links no power resource")]
