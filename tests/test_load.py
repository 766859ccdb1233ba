"""Loading scenarios: every validation rule has a bad file in tests/bad_inputs/.

tests/bad_inputs/MANIFEST.yaml maps each file to the field path and the phrases its
ScenarioError must contain; every message must also name the file, stay short and
carry no traceback or pydantic URL.
"""

from __future__ import annotations

import io
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from placer.errors import ScenarioError
from placer.model import Scenario, default_catalog, load_scenario
from placer.model.yaml_text import DEFAULT_MAX_INPUT_MB, max_file_bytes

BAD = Path(__file__).parent / "bad_inputs"
MANIFEST: dict[str, dict[str, Any]] = YAML(typ="safe", pure=True).load(
    (BAD / "MANIFEST.yaml").read_text("utf-8")
)
MAX_MESSAGE_LINES = 15


def _case(name: str) -> Any:
    entry = MANIFEST[name]
    marks = [pytest.mark.xfail(reason=entry["xfail"], strict=True)] if "xfail" in entry else []
    return pytest.param(name, id=name, marks=marks)


def assert_clean_message(message: str, source: str) -> None:
    """What every ScenarioError message must be: names its file, short, no internals."""
    assert source in message, f"message does not name the file {source!r}:\n{message}"
    assert "Traceback" not in message
    assert 'File "' not in message
    assert "pydantic.dev" not in message and "errors.pydantic" not in message
    assert "ValidationError" not in message
    assert len(message.splitlines()) < MAX_MESSAGE_LINES, message


def load_error(path: Path | str, match: str | None = None) -> str:
    """Loads `path`, expecting a ScenarioError matching `match`; returns its message."""
    with pytest.raises(ScenarioError, match=match) as info:
        load_scenario(path)
    assert info.value.exit_code == 2
    return str(info.value)


# ---- the corpus ------------------------------------------------------------------------------


def test_manifest_lists_every_corpus_file() -> None:
    files = {p.name for p in BAD.iterdir() if p.name != "MANIFEST.yaml"}
    assert files == set(MANIFEST), "tests/bad_inputs and MANIFEST.yaml disagree"
    for name, entry in MANIFEST.items():
        assert entry.get("rule"), name
        assert entry.get("contains"), name
        assert set(entry) <= {"rule", "path", "contains", "xfail"}, name


@pytest.mark.parametrize("name", [_case(n) for n in sorted(MANIFEST)])
def test_bad_input_is_rejected(name: str) -> None:
    entry = MANIFEST[name]
    path = BAD / name
    message = load_error(path, match=re.escape(entry["contains"][0]))
    assert_clean_message(message, str(path))
    if entry["path"]:
        # The field path is named as a path: followed by ':' or by a deeper '.part'.
        assert re.search(rf"(^|\s){re.escape(entry['path'])}[.:]", message, re.M), (
            f"message does not name field {entry['path']!r}:\n{message}"
        )
    for phrase in entry["contains"]:
        assert phrase in message, f"{phrase!r} missing from:\n{message}"


# Messages that once read badly: a Python type name, pydantic jargon, a raw regex,
# a misplaced path or a did-you-mean that repeats the key. (file, must not contain,
# must contain, reason): regression tests for messages that once read badly.
KNOWN_MESSAGE_BUGS = [
    ("comments_only.yaml", "NoneType", None, "leaks Python type name NoneType"),
    ("scalar_top_level.yaml", "is str,", None, "leaks Python type name str"),
    ("training_key_on_inference.yaml", "did you mean 'gpus'", None, "suggests the same key"),
    ("unknown_site_ref.yaml", "<document>", None, "'<document>:' before a field path"),
    ("duplicate_pool.yaml", None, "sites.1.pools.1.id:", "path split as 'sites.1: pools.1.id'"),
    ("missing_workload_kind.yaml", "discriminator", None, "pydantic jargon; no kind path"),
    ("bad_country_code.yaml", "'^[A-Z]{2}$'", None, "shows a regex, not 'ISO 3166 code'"),
    ("bad_id_pattern.yaml", "[A-Za-z0-9._:-]", None, "shows a regex, not the allowed chars"),
    ("scalar_for_mapping.yaml", "instance of Power", None, "leaks the Python class name"),
    ("complex_key.yaml", "('a', 'b')", None, "leaks a Python tuple repr as the path"),
    ("nul_byte.yaml", '"<file>"', None, "says <file> and a char offset, not line:col"),
]


@pytest.mark.parametrize(
    ("name", "absent", "present"),
    [pytest.param(n, a, p, id=n) for n, a, p, r in KNOWN_MESSAGE_BUGS],
)
def test_known_message_bugs(name: str, absent: str | None, present: str | None) -> None:
    message = load_error(BAD / name)
    if absent:
        assert absent not in message
    if present:
        assert present in message


# ---- reading limits ----------------------------------------------------------------------------


def test_huge_file_is_rejected_by_size_quickly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLACER_MAX_INPUT_MB", "20")
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as f:  # sparse: 50 MB on paper, nothing on disk
        f.write(b"apiVersion: placer/v1\nkind: Scenario\nmetadata:\n  description: ")
        f.truncate(50 * 1000 * 1000)
    start = time.perf_counter()
    message = load_error(path, match="larger than")
    assert time.perf_counter() - start < 2.0
    assert_clean_message(message, str(path))
    assert "20 MiB" in message and "PLACER_MAX_INPUT_MB" in message


def test_the_default_input_limit_holds_a_100k_fleet() -> None:
    # a generated 100,000-workload fleet is 27 MiB of compact JSON, 46 MB as written
    assert max_file_bytes() == DEFAULT_MAX_INPUT_MB * 1024 * 1024 >= 64 * 1024 * 1024


@pytest.mark.parametrize("value", ["0", "-5", "lots", "nan"])
def test_a_bad_input_limit_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PLACER_MAX_INPUT_MB", value)
    with pytest.raises(ScenarioError, match="PLACER_MAX_INPUT_MB"):
        max_file_bytes()


def test_huge_stdin_is_rejected_by_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLACER_MAX_INPUT_MB", "1")
    stdin = io.TextIOWrapper(io.BytesIO(b"#" * (1024 * 1024 + 10)))
    monkeypatch.setattr(sys, "stdin", stdin)
    assert_clean_message(load_error("-", match="larger than"), "<stdin>")


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert_clean_message(load_error(path, match="cannot read"), str(path))


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    assert_clean_message(load_error(tmp_path, match="cannot read"), str(tmp_path))


def test_deeply_nested_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("".join("  " * i + "a:\n" for i in range(3000)) + "  " * 3000 + "b: 1\n")
    assert_clean_message(load_error(path), str(path))


def test_deeply_nested_yaml_message_has_no_python_text(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 2000 + "]" * 2000 + "\n")
    assert "recursion depth" not in load_error(path)


def test_deeply_nested_json_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert_clean_message(load_error(path, match="nested"), str(path))


def test_many_errors_give_a_short_message(write_yaml, minimal_scenario_dict) -> None:
    minimal_scenario_dict["workloads"] = [
        {"id": f"w{i}", "kind": "training", "gpus": -1, "hours": -1} for i in range(30)
    ]
    path = write_yaml(minimal_scenario_dict)
    assert_clean_message(load_error(path, match="workloads.0.gpus"), str(path))


def test_empty_stdin_names_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert_clean_message(load_error("-", match="empty"), "<stdin>")


# ---- valid input -------------------------------------------------------------------------------


def _check_minimal(scenario: Scenario) -> None:
    assert isinstance(scenario, Scenario)
    assert [s.id for s in scenario.sites] == ["onprem-fra", "cloud-osl"]
    assert [s.tier for s in scenario.sites] == ["onprem", "cloud"]
    assert [r.id for r in scenario.user_regions] == ["eu-central", "eu-north"]
    assert [w.kind for w in scenario.workloads] == ["training", "inference"]
    assert scenario.sites[1].location.country == "NO"


def test_minimal_scenario_loads_from_yaml(write_yaml, minimal_scenario_dict) -> None:
    _check_minimal(load_scenario(write_yaml(minimal_scenario_dict)))


def test_minimal_scenario_loads_from_json(write_yaml, minimal_scenario_dict) -> None:
    _check_minimal(load_scenario(write_yaml(minimal_scenario_dict, "scenario.json")))


def test_minimal_scenario_loads_from_yaml_flow_style(write_yaml, minimal_scenario_dict) -> None:
    buf = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = True
    yaml.dump(minimal_scenario_dict, buf)
    text = buf.getvalue()
    assert text.startswith("{") and '"' not in text  # YAML flow, not JSON
    _check_minimal(load_scenario(write_yaml(text)))


def test_minimal_scenario_loads_from_stdin(
    monkeypatch: pytest.MonkeyPatch, write_yaml, minimal_scenario_dict
) -> None:
    data = write_yaml(minimal_scenario_dict).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    _check_minimal(load_scenario("-"))


def test_utf8_bom_is_accepted(write_yaml, minimal_scenario_dict) -> None:
    data = write_yaml(minimal_scenario_dict).read_bytes()
    _check_minimal(load_scenario(write_yaml(b"\xef\xbb\xbf" + data, "bom.yaml")))


def test_yaml_12_norway_yes_on_stay_strings(write_yaml) -> None:
    text = """\
apiVersion: placer/v1
kind: Scenario
metadata: {name: yes, description: on, sources: [no, off, y]}
sites:
  - id: on
    tier: cloud
    location: {lat: 59.91, lon: 10.75, country: NO}
    power: {it_capacity_kw: 100, pue: 1.1, carbon_g_per_kwh: 20}
    pools: [{accelerator: L4, gpus: 8, cost_usd_per_gpu_h: 0.8}]
user_regions:
  - {id: yes, location: {lat: 59.91, lon: 10.75, country: NO}}
workloads:
  - id: off
    kind: inference
    residency: [NO, SE]
    demand_rps: {yes: 5}
    serving: {L4: {rps_per_replica: 10}}
    latency_slo_ms: 50
"""
    scenario = load_scenario(write_yaml(text))
    assert scenario.metadata.name == "yes"
    assert scenario.metadata.description == "on"
    assert scenario.metadata.sources == ["no", "off", "y"]
    assert scenario.sites[0].id == "on"
    assert scenario.sites[0].location.country == "NO"
    assert scenario.user_regions[0].id == "yes"
    workload = scenario.workloads[0]
    assert workload.id == "off"
    assert workload.residency == ["NO", "SE"]
    assert workload.demand_rps == {"yes": 5.0}


def test_scenario_may_add_an_accelerator(write_yaml, minimal_scenario_dict) -> None:
    minimal_scenario_dict["accelerators"] = [
        {"id": "X1", "vendor": "Acme", "memory_gb": 96, "tdp_w": 800, "source": "datasheet"}
    ]
    minimal_scenario_dict["sites"][0]["pools"].append(
        {"accelerator": "X1", "gpus": 16, "cost_usd_per_gpu_h": 2.0}
    )
    minimal_scenario_dict["workloads"][0]["accelerators"] = ["X1", "H100-SXM"]
    scenario = load_scenario(write_yaml(minimal_scenario_dict))
    catalog = scenario.catalog()
    assert catalog["X1"].tdp_w == 800
    assert catalog["X1"].cooling == "air"  # defaults apply
    assert {a.id for a in default_catalog()} <= set(catalog)


def test_scenario_may_override_a_default_accelerator(write_yaml, minimal_scenario_dict) -> None:
    minimal_scenario_dict["accelerators"] = [{"id": "H100-SXM", "memory_gb": 80, "tdp_w": 650}]
    scenario = load_scenario(write_yaml(minimal_scenario_dict))
    assert scenario.catalog()["H100-SXM"].tdp_w == 650
    assert next(a for a in default_catalog() if a.id == "H100-SXM").tdp_w == 700


def test_default_catalog_has_the_documented_accelerators() -> None:
    catalog = default_catalog()
    ids = [a.id for a in catalog]
    assert len(ids) == len(set(ids))
    expected = {
        "H100-SXM", "H200", "B200", "GB200", "MI300X", "A100-80GB", "L40S", "L4", "T4",
        "TPU-v5e", "TPU-v5p", "TPU-v6e", "Jetson-AGX-Orin",
    }  # fmt: skip
    assert expected <= set(ids), expected - set(ids)
    for accelerator in catalog:
        assert accelerator.source.strip(), f"{accelerator.id} has no source"
        assert accelerator.memory_gb > 0 and accelerator.tdp_w > 0


# ---- rules added after the corpus: built from the minimal scenario ------------------------


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for key in keys[:-1]:
        data = data[key]
    data[keys[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "expect_path", "phrase"),
    [
        ("sites.0.location.country", "UK", "sites.0.location.country", "write GB"),
        ("workloads.0.residency", ["XX"], "workloads.0.residency.0", "ISO 3166-1"),
        ("sites.0.location.country", "EU", "sites.0.location.country", "residency lists only"),
        ("workloads.0.residency", [], "workloads.0.residency", "empty list"),
        ("workloads.0.pin_sites", [], "workloads.0.pin_sites", "empty list"),
        ("workloads.0.accelerators", [], "workloads.0.accelerators", "empty list"),
        ("sites.0.pools.0.gpus", 10**20, "sites.0.pools.0.gpus", "less than or equal"),
    ],
)
def test_more_rules(minimal_scenario_dict, write_yaml, path, value, expect_path, phrase) -> None:
    _set(minimal_scenario_dict, path, value)
    file = write_yaml(minimal_scenario_dict)
    message = load_error(file)
    assert_clean_message(message, str(file))
    assert f"{expect_path}:" in message and phrase in message, message


def test_pin_and_exclude_the_same_site(minimal_scenario_dict, write_yaml) -> None:
    minimal_scenario_dict["workloads"][0].update(
        pin_sites=["onprem-fra"], exclude_sites=["onprem-fra"]
    )
    message = load_error(write_yaml(minimal_scenario_dict))
    assert "workloads.0.exclude_sites:" in message and "pin_sites" in message


def test_two_measured_rtts_for_one_pair(minimal_scenario_dict, write_yaml) -> None:
    entry = {"site": "onprem-fra", "region": "eu-central", "rtt_ms": 5.0}
    minimal_scenario_dict["latency_ms"] = [entry, {**entry, "rtt_ms": 7.0}]
    message = load_error(write_yaml(minimal_scenario_dict))
    assert "latency_ms.1:" in message and "keep one" in message


def test_residency_groups_expand(minimal_scenario_dict, write_yaml) -> None:
    minimal_scenario_dict["workloads"][0]["residency"] = ["EU", "CH", "DE"]
    scenario = load_scenario(write_yaml(minimal_scenario_dict))
    residency = scenario.workloads[0].residency
    assert len(residency) == 28 and "CH" in residency and residency.count("DE") == 1
    assert "NO" not in residency  # EEA, not EU


@pytest.mark.parametrize(
    ("text", "hint"), [('"1.3"', True), ('"inf"', False), ('"many"', False), ("many", False)]
)
def test_the_quotes_hint_comes_only_where_removing_them_fixes_it(tmp_path, text, hint) -> None:
    source = (BAD / "string_for_float.yaml").read_text("utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(source.replace('pue: "1.3"', f"pue: {text}"), "utf-8")
    message = load_error(path, match="valid number")
    assert ("write it without quotes" in message) is hint, message
    assert hint or f"(got the text {text.strip(chr(34))!r})" in message, message
