"""Token-level serving (docs/serving.md): sizing by tokens, memory and the TTFT SLO, the
verifier's own re-derivation, the mask, the KPIs in every output, and bad input.

The hand case (`tiny`): one 1-GPU H100 replica type (80 GB), 40 GB weights, 1e5 KV bytes
per token, prefill 10,000 and decode 1,000 tokens/s at batch 20; prompts mean 4,000 /
p95 8,000, outputs mean 200 / p95 400; 1 request/s, burst 2 (2 requests/s); RTT 10 ms.
  s_pre = 4,000 / 10,000 = 0.4 s, s_dec = 200 / 1,000 = 0.2 s per request
  tokens:  ceil(2 x (0.4 + 0.2)) = ceil(1.2) = 2
  memory:  a p95 sequence 8,400 x 1e5 = 8.4e8 B; room 80 x 0.9 - 40 = 32 GB; in flight
           2 x (0.4 + 200 x 20 / 1,000) = 8.8; ceil(8.8 x 8.4e8 / 3.2e10) = ceil(0.23) = 1
  TTFT(2): decode share 2 x 0.2 / 2 = 0.2; prefill service 0.4 / 0.8 = 0.5 s; load 1.0;
           Erlang C(2, 1) = (1/2 x 2 / (2 - 1)) / (1 + 1 + 1) = 1/3; wait 1/3 x 0.5 / 1 =
           0.1667 s; p95 prefill 0.8 / 0.8 = 1.0 s -> 10 + 1,166.7 = 1,176.7 ms.
With an SLO of 1,100 ms, 2 replicas are too few:
  TTFT(3): decode share 0.1333; service 0.4615 s; load 0.9231; C(3, 0.9231) = 0.07457;
           wait 0.07457 x 0.4615 / 2.0769 = 0.01657 s; p95 prefill 0.8 / 0.8667 = 0.9231 s
           -> 10 + 939.7 = 949.7 ms <= 1,100: 3 replicas.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from placer import api
from placer.cli.main import cli
from placer.errors import ScenarioError
from placer.model.load import validate_model
from placer.model.scenario import Scenario
from placer.plan.verify import verify
from placer.problem.compile import compile_problem, pair_reasons
from placer.problem.compile_static import token_sizing
from placer.problem.form import R_MEMORY, R_TTFT

ROOT = Path(__file__).resolve().parents[1]
LONG_CONTEXT = ROOT / "configs" / "serving_long_context.yaml"


def tiny(**tokens) -> dict:
    """The hand case of the module docstring; `tokens` overrides the tokens block."""
    block = {
        "model": "my-model",
        "kv_cache_bytes_per_token": 100000,
        "weights_gb": 40,
        "prompt_tokens": {"mean": 4000, "p95": 8000},
        "output_tokens": {"mean": 200, "p95": 400},
        "ttft_slo_ms": 2000,
        "burst_factor": 2.0,
    }
    block.update(tokens)
    return {
        "apiVersion": "placer/v1",
        "kind": "Scenario",
        "metadata": {"name": "tiny-serving"},
        "sites": [
            {
                "id": "near",
                "tier": "cloud",
                "location": {"lat": 50.11, "lon": 8.68, "country": "DE"},
                "power": {
                    "it_capacity_kw": 1000,
                    "pue": 1.2,
                    "price_usd_per_kwh": 0.1,
                    "carbon_g_per_kwh": 300,
                },
                "pools": [{"accelerator": "H100-SXM", "gpus": 64, "cost_usd_per_gpu_h": 3.0}],
            }
        ],
        "user_regions": [{"id": "fra", "location": {"lat": 50.11, "lon": 8.68, "country": "DE"}}],
        "latency_ms": [{"site": "near", "region": "fra", "rtt_ms": 10}],
        "workloads": [
            {
                "id": "chat",
                "kind": "inference",
                "demand_rps": {"fra": 1.0},
                "latency_slo_ms": 50,
                "tokens": block,
                "serving": {
                    "H100-SXM": {
                        "prefill_tokens_per_s": 10000,
                        "decode_tokens_per_s": 1000,
                        "decode_batch": 20,
                    }
                },
            }
        ],
    }


def scenario(doc: dict) -> Scenario:
    return validate_model(Scenario, doc, source="test")


def solve(sc: Scenario, solver: str = "milp"):
    return api.solve(sc, solver=solver, time_limit_s=20.0, seed=0)


# ---- the hand computation: compile = verify = by hand --------------------------------------


def test_hand_case_replicas_and_ttft() -> None:
    sc = scenario(tiny())
    # the rps figure filled in by validation: 1 / (0.4 + 0.2) requests/s per replica
    np.testing.assert_allclose(sc.workloads[0].serving["H100-SXM"].rps_per_replica, 1 / 0.6)
    sized = token_sizing(sc.workloads[0], "H100-SXM", 80.0, 1.0, 10.0)
    assert (sized.replicas, sized.bits) == (2, 0)
    np.testing.assert_allclose(sized.ttft_ms, 10 + 1000 * (0.5 / 3 + 1.0), rtol=1e-12)
    np.testing.assert_allclose(sized.prefill_share, 0.4 / 0.6)
    _, index = compile_problem(sc)
    assert index.replicas_uk[0, 0] == 2
    plan = solve(sc)
    (pl,) = plan.placements
    assert (pl.replicas, pl.gpus) == (2, 2)
    np.testing.assert_allclose(pl.ttft_ms, 1176.6666666666667, rtol=1e-9)
    assert verify(sc, plan) == []


def test_ttft_slo_adds_replicas() -> None:
    sc = scenario(tiny(ttft_slo_ms=1100))
    sized = token_sizing(sc.workloads[0], "H100-SXM", 80.0, 1.0, 10.0)
    assert sized.replicas == 3
    np.testing.assert_allclose(sized.ttft_ms, 949.7, atol=0.1)  # by hand, module docstring
    plan = solve(sc)
    assert plan.placements[0].replicas == 3
    assert verify(sc, plan) == []


def test_verifier_catches_too_few_replicas() -> None:
    sc = scenario(tiny(ttft_slo_ms=1100))
    plan = solve(sc)
    pl = plan.placements[0]
    short = plan.model_copy(
        update={"placements": [pl.model_copy(update={"replicas": 2, "gpus": 2})]}
    )
    kinds = {v.kind for v in verify(sc, short)}
    assert "ttft" in kinds and "replicas" in kinds
    fewer = plan.model_copy(
        update={"placements": [pl.model_copy(update={"replicas": 1, "gpus": 1})]}
    )
    assert "tokens" in {v.kind for v in verify(sc, fewer)}


def test_burst_factor_raises_replicas() -> None:
    # burst 2: ceil(2 x 0.6) = 2; burst 5: ceil(5 x 0.6) = 3 (then the TTFT search)
    reps = []
    for burst in (1.0, 2.0, 5.0):
        sc = scenario(tiny(burst_factor=burst))
        reps.append(compile_problem(sc)[1].replicas_uk[0, 0])
    assert reps[0] <= reps[1] < reps[2]
    assert reps[1] == 2


def test_pool_masked_for_ttft() -> None:
    # p95 prefill alone takes 800 ms: no replica count meets a 700 ms SLO
    sc = scenario(tiny(ttft_slo_ms=700))
    assert pair_reasons(sc, [0])[0, 0] == R_TTFT
    plan = solve(sc, "greedy")
    assert not plan.placements
    assert "TTFT SLO" in plan.unplaced[0].reason or plan.status == "infeasible"


def test_pool_masked_when_a_sequence_does_not_fit() -> None:
    # 75 GB of weights leave 72 - 75 < 0 GB for the KV cache on one 80 GB GPU
    sc = scenario(tiny(weights_gb=75))
    assert pair_reasons(sc, [0])[0, 0] == R_MEMORY


def test_histogram_gives_mean_and_p95() -> None:
    doc = tiny()
    doc["workloads"][0]["tokens"]["prompt_tokens"] = {
        "histogram": [[2000, 50], [6000, 45], [8000, 5]]
    }
    t = scenario(doc).workloads[0].tokens
    assert t.prompt_tokens.mean_tokens == pytest.approx((2000 * 50 + 6000 * 45 + 8000 * 5) / 100)
    assert t.prompt_tokens.p95_tokens == 6000  # 95 of 100 counts at or below 6,000


def test_table_fills_the_figures() -> None:
    sc = api.load(LONG_CONTEXT)
    w = sc.workloads[0]
    assert w.tokens.kv_cache_bytes_per_token == 327680  # ~0.33 MB per token (GQA, 80 layers)
    assert w.serving["H100-SXM"].gpus_per_replica == 2
    assert w.serving["H100-SXM"].prefill_tokens_per_s == 12292
    # a user figure wins over the table's
    doc = json.loads(json.dumps(sc.model_dump(mode="json", exclude_none=True)))
    doc["workloads"][0]["serving"]["H100-SXM"]["decode_batch"] = 10
    assert scenario(doc).workloads[0].serving["H100-SXM"].decode_batch == 10


# ---- KPIs in every output -------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("serving") / "tiny.json"
    path.write_text(json.dumps(tiny()))
    return path


def test_cost_per_1k_tokens_in_table_json_quiet_and_report(tiny_file: Path, tmp_path) -> None:
    table = run("solve", str(tiny_file), "--solver", "milp")
    assert table.exit_code == 0
    assert "USD per 1k tokens" in table.output and "usd_1k_prompt" in table.output
    doc = json.loads(run("solve", str(tiny_file), "--solver", "milp", "--format", "json").output)
    t = doc["totals"]
    # cost 6.1559376 USD/h; prompt share 2/3 of replica time; 4,000 prompt tokens/s
    np.testing.assert_allclose(t["usd_per_1k_prompt_tokens"], 6.1559376 * 2 / 3 / 14400)
    np.testing.assert_allclose(t["usd_per_1k_output_tokens"], 6.1559376 / 3 / 720)
    np.testing.assert_allclose(t["usd_per_1k_tokens"], 6.1559376 / (4200 * 3.6))
    assert doc["placements"][0]["usd_per_1k_tokens"] == pytest.approx(t["usd_per_1k_tokens"])
    assert doc["gpu_utilization"][0]["utilization"] == pytest.approx(2 / 64)
    quiet = json.loads(run("solve", str(tiny_file), "--solver", "milp", "--quiet").output)
    assert quiet["usd_per_1k_tokens"] == pytest.approx(t["usd_per_1k_tokens"])
    assert quiet["prompt_tokens_per_s"] == 4000
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(json.dumps(doc))
    html = tmp_path / "r.html"
    assert run("report", str(tiny_file), str(plan_file), "-o", str(html)).exit_code == 0
    assert 'id="sec-serving"' in html.read_text() and "per 1,000 tokens" in html.read_text()


def test_plans_without_tokens_state_no_token_kpis() -> None:
    plan = solve(api.load(ROOT / "configs" / "edge_inference.yaml"), "greedy")
    assert plan.totals.usd_per_1k_tokens is None and not plan.gpu_utilization
    assert all(p.ttft_ms is None for p in plan.placements)


# ---- bad input names the field ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["tokens"]["prompt_tokens"].update(mean=-5), "tokens.prompt_tokens.mean"),
        (lambda d: d["tokens"].update(model="no-such-model", weights_gb=None), "tokens.model"),
        (lambda d: d["tokens"].update(burst_factor=0.5), "tokens.burst_factor"),
        (lambda d: d["serving"]["H100-SXM"].pop("decode_batch"), "serving.H100-SXM.decode_batch"),
        (lambda d: d["tokens"]["output_tokens"].update(p95=10), "tokens.output_tokens"),
    ],
)
def test_bad_field_is_named(change, field, tmp_path) -> None:
    doc = copy.deepcopy(tiny())
    change(doc["workloads"][0])
    doc["workloads"][0]["tokens"] = {
        k: v for k, v in doc["workloads"][0]["tokens"].items() if v is not None
    }
    with pytest.raises(ScenarioError, match=field.replace(".", r"\.")):
        scenario(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    result = run("validate", str(path))
    assert result.exit_code == 2 and field in result.output and "Traceback" not in result.output


def test_without_tokens_rps_per_replica_is_required() -> None:
    doc = tiny()
    del doc["workloads"][0]["tokens"]
    with pytest.raises(ScenarioError, match=r"serving\.H100-SXM\.rps_per_replica"):
        scenario(doc)


# ---- the long-context config: every solver's plan passes verify ------------------------------


@pytest.mark.parametrize("solver", ["greedy", "milp"])
def test_long_context_plans_pass_verify(solver: str) -> None:
    sc = api.load(LONG_CONTEXT)
    plan = solve(sc, solver)
    assert plan.status in ("optimal", "feasible")
    assert verify(sc, plan) == []
    slo = sc.workloads[0].tokens.ttft_slo_ms
    assert all(p.ttft_ms is not None and p.ttft_ms <= slo for p in plan.placements)
    assert plan.totals.usd_per_1k_tokens is not None and plan.totals.usd_per_1k_tokens > 0


@pytest.mark.parametrize("demand", [0.3, 1.0, 4.0, 9.0])
@pytest.mark.parametrize("burst", [1.0, 3.0])
def test_long_context_property_demand_and_burst(demand: float, burst: float) -> None:
    """Scaled demand and bursts: greedy and MILP plans pass verify, replicas meet the SLO."""
    doc = api.load(LONG_CONTEXT).model_dump(mode="json", exclude_none=True)
    w = doc["workloads"][0]
    w["demand_rps"] = {r: v * demand for r, v in w["demand_rps"].items()}
    w["tokens"]["burst_factor"] = burst
    w["must_place"] = False
    w["value_usd_per_h"] = 1e6
    sc = scenario(doc)
    for solver in ("greedy", "milp"):
        plan = solve(sc, solver)
        assert verify(sc, plan) == [], solver
