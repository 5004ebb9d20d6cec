"""The real AAR per-seed results (../shared/data/aar/cache_results.tar.gz, or $TRANSFER_DATA/aar/...)."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from transfer.paths import shared_data_dir

from analysis.load import load_study
from jobs.import_aar import collect, import_aar
from jobs.report import build

TARBALL = shared_data_dir() / "aar" / "cache_results.tar.gz"
pytestmark = pytest.mark.skipif(not TARBALL.exists(), reason=f"AAR results not at {TARBALL} (set TRANSFER_DATA)")


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    return collect(TARBALL, str(tmp_path_factory.mktemp("aar")))


def _raw(tmp_path, rel):
    with tarfile.open(TARBALL) as tar:
        return json.load(tar.extractfile(f"cache_results/{rel}"))


def test_counts_and_fixed_baselines(collected):
    cells, bases, info = collected
    assert len(bases) == 3 * 2 * 16
    per = {(c["dataset"], c["method"]): 0 for c in cells}
    for c in cells:
        per[c["dataset"], c["method"]] += 1
    assert per[("chat", "ue_zeroshot")] == 4 and per[("chat", "vanilla")] == 5 and len(cells) == 59
    assert info["chat"]["fixed_weak_baseline"] == pytest.approx(0.5279592240696753)
    assert info["chat"]["fixed_ceiling_baseline"] == pytest.approx(0.7325316706254948)
    assert info["chat"]["n_test"] == 1263


def test_pgr_computed_the_way_the_study_did(collected, tmp_path):
    cells, _, _ = collected
    van = {c["seed"]: c for c in cells if c["dataset"] == "chat" and c["method"] == "vanilla"}
    assert sorted(van) == [42, 43, 44, 45, 46]
    for s, c in van.items():  # chat records: our PGR equals the PGR the study stored
        assert c["metrics"]["pgr"] == pytest.approx(c["metrics"]["aar_reported_pgr"], abs=1e-12)
    raw = _raw(tmp_path, "chat_vanilla_w2s/Qwen_Qwen3_4B_Base_Qwen_Qwen1_5_0_5B_Chat_e5_lr0.0001_bs32_schlinear/seed_44.json")
    assert van[44]["metrics"]["w2s_acc"] == raw["transfer_acc"] and van[44]["original_method"] == "vanilla_w2s"
    pgrs = [c["metrics"]["pgr"] for c in van.values()]
    assert np.mean(pgrs) == pytest.approx(0.2035, abs=5e-4)  # domain notes: vanilla PGR ~ 0.20


def test_stale_fields_are_flagged_and_not_trusted(collected):
    cells, _, _ = collected
    ue = {c["seed"]: c for c in cells if c["dataset"] == "chat" and c["method"] == "ue_zeroshot"}
    assert sorted(ue) == [42, 43, 44, 45]  # seeds from file names, not the records' stale `seed: 42`
    assert any("seed field 42" in i for i in ue[43]["issues"])
    assert ue[43]["metrics"]["weak_acc"] == pytest.approx(0.5384006334125099)  # seed 43's own teacher
    critic = [c for c in cells if c["dataset"] == "code" and c["method"] == "critic"]
    assert all("lacks fixed baselines" in " ".join(c["issues"]) and np.isfinite(c["metrics"]["pgr"]) for c in critic)


@pytest.mark.slow
def test_import_then_report(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    out = import_aar(TARBALL, "aar", uri)
    assert out["new_runs"] == 59 + 96
    assert import_aar(TARBALL, "aar", uri)["new_runs"] == 0  # idempotent
    st = load_study("aar", uri)
    assert len(st.cells) == 59 and len(st.baselines) == 48 and st.examples.empty
    dest = build("aar", tracking_uri=uri, out=str(tmp_path / "reports"), overrides=["bootstrap=300"])
    res = json.loads((dest / "results.json").read_text())
    chat = next(g for g in res["groups"] if g["dataset"] == "chat")
    assert chat["n_baseline_seeds"] == 16 and not chat["paired_baseline_seeds"]
    assert chat["pgr"]["vanilla"]["estimate"] == pytest.approx(0.2035, abs=5e-4)
    assert chat["pgr"]["confident_only"]["estimate"] == pytest.approx(0.2336, abs=5e-4)
    assert all("no per-example" in t["mcnemar_skipped"] for t in chat["tests"].values())
    assert res["comparisons"] == [] and any("no transfer verdicts" in n for n in res["notes"])
    client = MlflowClient(uri)
    names = {r.info.run_name for r in client.search_runs([client.get_experiment_by_name("aar").experiment_id],
                                                          max_results=1000)}
    assert {"lab/chat/vanilla/seed42", "lab/chat/weak/seed42"} <= names  # the native runs' name scheme
    # lab verdicts need no production: 5 seeds = 3 discovery + 2 confirmation
    lab = chat["lab_verdicts"]["confident_only"]
    assert (lab["discovery"]["n"], lab["confirmation"]["n"]) == (3, 2)
    assert lab["verdict"] in ("lab gain established", "no lab gain >= SESOI", "lab inconclusive")
    print({m: v["verdict"] for g in res["groups"] for m, v in g["lab_verdicts"].items()})


def test_flagged_records_are_caveats_next_to_their_numbers(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    import_aar(TARBALL, "aar", uri)
    dest = build("aar", tracking_uri=uri, out=str(tmp_path / "reports"), overrides=["bootstrap=300"], log=False)
    res = json.loads((dest / "results.json").read_text())
    chat = next(g for g in res["groups"] if g["dataset"] == "chat")
    assert any("seed field" in i for i in chat["data_issues"]["ue_zeroshot"])  # the import's own flag, carried through
    md = (dest / "report.md").read_text()
    assert "## Caveats: data issues flagged on the records" in md
    line = next(x for x in md.splitlines() if x.startswith("- **ue_zeroshot** (lab / chat)"))
    assert "Caveat" in line
