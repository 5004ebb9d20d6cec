"""Method variants as a grid axis (jobs/variants.py through jobs.grid): names, configs, hashes, errors."""

from __future__ import annotations

import numpy as np
import pytest

from jobs.grid import expand
from jobs.variants import base_of, short_hash
from transfer.errors import ConfigError
from transfer.methods.base import StudentView, student_head
from transfer.methods.vanilla import Vanilla

ONE = ["grid.seeds=[0]"]


def methods(sweep):
    return sweep.base["grid"]["methods"]


def by_method(sweep):
    return {c.method: c for c in sweep.cells}


def test_a_swept_knob_makes_named_variants_that_replace_the_method_but_not_the_baseline():
    sweep = expand([*ONE, "method.alpha_max=0.1,0.3,1.0"])
    names = methods(sweep)
    assert names[:2] == ["vanilla", "confident_only"] and len(names) == 5  # plain logconf is replaced
    cells = by_method(sweep)
    for name, alpha in zip(names[2:], (0.1, 0.3, 1.0)):
        cfg = cells[name].config["method"]
        assert cfg["alpha_max"] == alpha and cfg["warmup_frac"] == 0.2 and cfg["name"] == name
        assert name == f"logconf[alpha_max={alpha:g}]#{short_hash(cfg)}" and base_of(name) == "logconf"
        assert sweep.base["grid"]["variants"][name] == {"of": "logconf", "knobs": {"alpha_max": alpha},
                                                        "source": "override"}
    assert len({c.config_hash for c in sweep.cells}) == 5
    # the methods that were not swept are the same cells as without the sweep
    plain = by_method(expand(ONE))
    assert cells["vanilla"].config_hash == plain["vanilla"].config_hash
    assert cells["confident_only"].config_hash == plain["confident_only"].config_hash


def test_a_range_sweeps_numbers_and_rounds_them():
    names = methods(expand([*ONE, "grid.methods=[logconf]", "method.alpha_max=range(0.1,1.0,0.3)"]))
    assert [n.split("#")[0] for n in names] == [f"logconf[alpha_max={a}]" for a in ("0.1", "0.4", "0.7", "1")]


def test_two_swept_knobs_cross_and_a_fixed_override_still_applies():
    sweep = expand([*ONE, "grid.methods=[logconf]", "method.alpha_max=0.2,0.4", "method.student_l2=0.1,1",
                    "method.warmup_frac=0.5"])
    cfgs = [c.config["method"] for c in sweep.cells]
    assert sorted((c["alpha_max"], c["student_l2"]) for c in cfgs) == [(0.2, 0.1), (0.2, 1), (0.4, 0.1), (0.4, 1)]
    assert all(c["warmup_frac"] == 0.5 for c in cfgs)


def test_the_student_l2_knob_of_every_head_method_sweeps_and_vanilla_keeps_its_plain_self():
    sweep = expand([*ONE, "method.student_l2=0.03,3"])
    names = methods(sweep)
    assert names[0] == "vanilla" and len(names) == 1 + 3 * 2
    assert {base_of(n) for n in names} == {"vanilla", "confident_only", "logconf"}
    assert by_method(sweep)["vanilla"].config["method"]["student_l2"] is None  # null = head.l2


def test_student_l2_null_leaves_existing_cells_hashes_and_a_set_value_changes_them():
    plain = [c.config_hash for c in expand(ONE).cells]
    assert plain == [c.config_hash for c in expand([*ONE, "method.student_l2=null"]).cells]
    assert set(plain).isdisjoint(c.config_hash for c in expand([*ONE, "method.student_l2=0.1"]).cells)


def test_the_demo_search_declares_every_variant_once():
    sweep = expand([*ONE, "search=demo"])
    names = methods(sweep)
    assert names[0] == "vanilla" and "knn_relabel" not in names  # knn_relabel joins as its variants only
    count = {b: sum(base_of(n) == b for n in names[1:]) for b in ("vanilla", "logconf", "confident_only",
                                                                  "knn_relabel")}
    assert count == {"vanilla": 2, "logconf": 6, "confident_only": 4, "knn_relabel": 2}
    assert len(set(names)) == len(names) == len(sweep.cells) == 15
    assert expand([*ONE, "grid.search=demo"]).base["grid"]["methods"] == names  # search= is grid.search=


def write_search(tmp_path, text: str) -> list[str]:
    (tmp_path / "search").mkdir(exist_ok=True)
    (tmp_path / "search" / "mine.yaml").write_text(text)
    return [*ONE, f"hydra.searchpath=[file://{tmp_path}]", "search=mine"]


def test_a_random_search_is_seeded(tmp_path):
    spec = ("sample: random\nn: 5\nseed: {seed}\nmethods:\n  logconf:\n    alpha_max: {{low: 0.01, high: 1.0, "
            "log: true}}\n    warmup_frac: [0.1, 0.2]\n  knn_relabel:\n    k: {{low: 5, high: 60}}\n")
    first = methods(expand(write_search(tmp_path, spec.format(seed=0))))
    assert first == methods(expand(write_search(tmp_path, spec.format(seed=0))))
    assert first != methods(expand(write_search(tmp_path, spec.format(seed=1))))
    cfgs = [c.config["method"] for c in expand(write_search(tmp_path, spec.format(seed=0))).cells]
    alphas = [c["alpha_max"] for c in cfgs if base_of(c["name"]) == "logconf"]
    ks = [c["k"] for c in cfgs if base_of(c["name"]) == "knn_relabel"]
    assert 3 <= len(alphas) <= 5 and all(0.01 <= a <= 1.0 for a in alphas) and len(set(alphas)) == len(alphas)
    assert ks and all(isinstance(k, int) and 5 <= k <= 60 for k in ks)


@pytest.mark.parametrize("overrides, message", [
    (["method.alpah_max=0.1,0.2"], "no method in the grid ['vanilla', 'confident_only', 'logconf'] has a knob "
                                   "'alpah_max'; knobs: vanilla: ['labels', 'student_l2']"),
    (["grid.methods=[vanilla,ccs]", "method.alpha_max=0.1,0.2"], "has a knob 'alpha_max'"),
    (["grid.methods=[ccs]", "method.student_l2=0.1,1"], "no method in the grid ['ccs'] has a knob 'student_l2'"),
    (["+method.foo=1,2"], "a swept knob must be a field of the method's yaml"),
    (["method.alpha_max=[0.1],0.2"], "cannot name a variant"),
    (["mode=lora_cpu", "method.student_l2=0.1,1"], "trains no head; drop student_l2 or use mode=head"),
    (["method.student_l2=-1"], "student_l2=-1: a number >= 0"),
    (["search=nope"], "search='nope': no conf/search/nope.yaml; known: ['demo']"),
    (["method.alpha_max=0.1,high"], "knob alpha_max='high' is a word; its default 0.75 is a number: give numbers"),
    (["method.labels=soft,1"], "knob labels=1 is a number; its default 'soft' is a word: give words"),
    (["search=demo,other"], "one search file per study"),
])
def test_bad_variant_specs_are_one_line_errors(overrides, message):
    with pytest.raises(ConfigError) as err:
        expand([*ONE, *overrides])
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("text, message", [
    ("methods:\n  vanilla:\n    alpha_max: [0.1]\n", "method 'vanilla' has no knob 'alpha_max'; its knobs: "
                                                     "['labels', 'student_l2']"),
    ("methods:\n  vanila:\n    labels: [hard]\n", "unknown method 'vanila'"),
    ("methods:\n  logconf:\n    impl: [x]\n", "has no knob 'impl'"),
    ("methods:\n  logconf:\n    alpha_max: {low: 0.1, high: 1}\n", "needs `sample: random`"),
    ("sample: random\nmethods:\n  logconf:\n    alpha_max: [0.1]\n", "sample: random needs n:"),
    ("sample: random\nn: 2\nmethods:\n  logconf:\n    alpha_max: {low: 1, high: 0.1}\n",
     "a range is {low: a, high: b}"),
    ("sample: bayes\nmethods:\n  logconf:\n    alpha_max: [0.1]\n", "sample='bayes'; use grid"),
    ("method:\n  logconf:\n    alpha_max: [0.1]\n", "unknown keys ['method']"),
    ("methods: [logconf]\n", "needs a non-empty `methods:` mapping"),
    ("methods:\n  logconf: 0.3\n", "methods.logconf must map knobs to values"),
    ("methods:\n  logconf:\n    alpha_max: [0.1\n", "not valid yaml"),
    ("methods:\n  knn_relabel:\n    action: ['drop it']\n", "cannot name a variant"),
])
def test_a_malformed_search_file_is_one_line_that_names_the_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        expand(write_search(tmp_path, text))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_student_l2_trains_the_student_head_with_its_own_l2_only():
    head = {"epochs": 200, "lr": 0.05, "l2": 0.3, "batch_size": None}
    assert student_head(head, {"student_l2": None}) is head
    assert student_head(head, {"student_l2": 30}) == {**head, "l2": 30.0} and head["l2"] == 0.3
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8)).astype(np.float32)
    probs = (1 / (1 + np.exp(-x @ rng.normal(size=8)))).astype(np.float32)

    def weights(method_cfg):
        view = StudentView(x=x, strong_a=None, strong_b=None, weak_probs=probs, example_ids=tuple(map(str, range(200))),
                           seed=0, head=student_head(head, method_cfg))
        return np.abs(Vanilla({"labels": "soft", **method_cfg}).fit(view).predict_proba(x) - 0.5).mean()

    # a strong L2 shrinks the student's head towards 0: predictions closer to 0.5
    assert weights({"student_l2": 30.0}) < 0.5 * weights({"student_l2": None})


@pytest.mark.slow
def test_a_swept_sweep_logs_each_variant_as_a_method_with_its_params(tmp_path, ray_local):
    """Real data, models, Ray and a sqlite store: variants are cells with their own tags and params."""
    from hydra import initialize_config_dir
    from mlflow.tracking import MlflowClient

    from transfer import paths
    from jobs.sweep import main as sweep_main

    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        assert sweep_main(["setting.data.max_pairs=120", "grid.methods=[vanilla,logconf]", "grid.seeds=[0]",
                           "head.epochs=10", "method.alpha_max=0.2,0.9", "method.student_l2=0.01",
                           f"runtime.tracking_uri={uri}", "study=variants"]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("variants")
    runs = {r.data.tags["method"]: r for r in client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")}
    names = sorted(n for n in runs if n != "vanilla")
    assert len(runs) == 3 and [n.split("#")[0] for n in names] == ["logconf[alpha_max=0.2]", "logconf[alpha_max=0.9]"]
    for n in names:
        r = runs[n]
        assert r.data.params["method.alpha_max"] == n.split("=")[1].split("]")[0]
        assert r.data.params["method.student_l2"] == "0.01"
        assert r.data.tags["method_base"] == "logconf" and n.endswith("#" + r.data.tags["method_hash"])
        assert r.info.run_name == f"lab/hh_harmless/{n}/seed0"
    assert runs["vanilla"].data.tags["method_hash"] == short_hash({"name": "vanilla", "labels": "soft",
                                                                   "impl": "transfer.methods.vanilla:Vanilla",
                                                                   "student_l2": 0.01})
    # the two variants trained different students
    assert runs[names[0]].data.metrics["w2s_acc"] != runs[names[1]].data.metrics["w2s_acc"] or \
        runs[names[0]].data.metrics["student_weak_agreement"] != runs[names[1]].data.metrics["student_weak_agreement"]


def test_a_lab_variant_is_selected_and_replayed_with_its_exact_config(tmp_path):
    """A lab study of two logconf variants (cells carrying their real cell_config.json, SIMULATED metrics): the plan
    picks the planted winner, records the search, and the production cells run the variant's own config."""
    from analysis.simulate import simulate
    from jobs.plan import make_plan
    from tests.helpers.replay import rcfg
    from transfer import store
    from transfer.store.writer import StudyWriter
    from jobs.grid import from_plan

    seeds = list(range(8))
    lab = expand(["grid.methods=[vanilla,logconf]", "method.alpha_max=0.6,0.9", f"grid.seeds={seeds}"])
    good, other = methods(lab)[1:]
    truth = {"lab": {"pgr": {"vanilla": 0.2, good: 0.5, other: 0.2}, "seed_sd": 0.04, "method_sd": 0.03}}
    cells, _ = simulate(truth, seeds, 500, np.random.default_rng(3))
    configs = {(c.method, c.seed): c.cell() for c in lab.cells}
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    writer = StudyWriter("varlab", uri)
    for c in cells.itertuples():
        tags = {"setting": "lab", "method": c.method, "seed": str(c.seed), "dataset": "hh_harmless",
                "config_hash": configs[c.method, c.seed]["config_hash"]}
        writer.log_run(f"lab/{c.method}/{c.seed}", tags, {"weak_acc": c.weak_acc, "ceiling_acc": c.ceiling_acc,
                                                         "w2s_acc": c.w2s_acc, "n_test": c.n_test},
                       files={store.CELL_CONFIG: configs[c.method, c.seed]})
    writer.finish()
    plan, _ = make_plan(rcfg(lab="varlab", study="varlab-replay"), uri)
    assert plan["selection"]["winners"] == [good] and plan["search"]["size"] == 2
    replayed = next(m for m in plan["methods"] if m["name"] == good)
    assert replayed["config_source"] == "lab cell_config.json" and replayed["config"]["alpha_max"] == 0.6
    prod = from_plan(plan, "varlab-replay", uri)
    assert {c.method for c in prod.cells} == {"vanilla", good}
    assert all(c.config["method"] == replayed["config"] for c in prod.cells if c.method == good)


def test_the_docs_example_name_is_the_one_the_code_makes():
    from transfer import paths

    name = methods(expand([*ONE, "grid.methods=[logconf]", "method.alpha_max=0.3,0.5"]))[0]
    for doc in ("docs/usage.md", "docs/methods.md"):
        assert f"`{name}`" in (paths.repo_root() / doc).read_text(), doc
