"""Training modes prompt and lora: a real cell of each through the real sweep -> Ray -> MLflow path (slow), and
the pieces that keep gold out of the student's prompt (fast)."""

import re

import numpy as np
import pytest
from hydra import initialize_config_dir
from mlflow.tracking import MlflowClient

from jobs.sweep import main as sweep_main
from transfer import paths
from transfer.data.pairs import Pair, PairSet
from transfer.data.splits import Split
from transfer.errors import ConfigError
from transfer.methods import StudentView, load_method
from transfer.modes import ModeInputs, run_mode
from transfer.modes.lm import balanced_pick, demonstrations


def test_balanced_pick_takes_both_labels_most_confident_first():
    labels = np.array([1, 1, 1, 0, 0, 1], dtype=np.float32)
    conf = np.array([0.1, 0.4, 0.3, 0.2, 0.1, 0.0])
    pick = balanced_pick(labels, conf, 4, seed=0)
    assert sorted(pick) == [1, 2, 3, 4]


def test_demonstrations_carry_the_given_labels_not_gold():
    pairs = PairSet("t", tuple(Pair(f"t:{i}", f"q{i}", f"g{i}", f"good{i}", f"bad{i}", "s") for i in range(2)))
    split = Split("train_unlabel", np.arange(2), np.array([True, False]))
    text = demonstrations(pairs, split, np.array([0, 1]), np.array([0.0, 1.0]), {"prompt_words": 5, "reply_words": 5})
    # pair 0: A is the better reply but the (weak) label says B; pair 1 the reverse: the prompt shows the weak labels
    assert "Answer A: good0\nAnswer B: bad0\nLabel: B" in text and "Answer A: bad1\nAnswer B: good1\nLabel: A" in text


class RecordingBackend:
    """Stands in for the strong LM behind load_backend: records every prompt prompt mode scores (the prompts are
    what is under test here, not the model's answer to them)."""

    def __init__(self):
        self.prompts = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def label_logprobs(self, prompts, labels):
        self.prompts += list(prompts)
        return np.log(np.full((len(prompts), len(labels)), 0.5))


DEMO = re.compile(r"Answer A: (good|bad)\d+\nAnswer B: (?:good|bad)\d+\nLabel: (A|B)\n\n")


def test_prompt_mode_student_demonstrations_never_carry_gold(monkeypatch):
    """Every weak label is wrong here, so a demonstration's label tells where it came from: the student's prompts
    must show only weak labels, the ceiling's only gold. Fails if the student's demonstrations ever use gold."""
    import transfer.modes.prompt as prompt_mode

    n_tu, n_test = 10, 4
    gold_tu = np.array([True, False] * (n_tu // 2))
    pairs = PairSet("t", tuple(Pair(f"t:{i}", f"q{i}", f"g{i}", f"good{i}", f"bad{i}", "s")
                               for i in range(n_tu + n_test)))
    tu = Split("train_unlabel", np.arange(n_tu), gold_tu)
    test = Split("test", np.arange(n_tu, n_tu + n_test), np.array([True, False] * (n_test // 2)))
    weak = np.where(gold_tu, 0.1, 0.9)  # the teacher is wrong on every pair
    view = StudentView(x=np.zeros((n_tu, 2), np.float32), strong_a=np.zeros((n_tu, 2), np.float32),
                       strong_b=np.zeros((n_tu, 2), np.float32), weak_probs=weak,
                       example_ids=tuple(f"t:{i}" for i in range(n_tu)), seed=0)
    mode = {"name": "prompt", "shots": 4, "ceiling_shots": 4, "orders": 2, "diag_pairs": None,
            "format": {"prompt_words": 5, "reply_words": 5}}
    cell = {"mode": mode, "setting": {"strong_backend": {}, "strong": {}}, "seeds": {"student": 0},
            "method": {"name": "vanilla"}}
    backend = RecordingBackend()
    monkeypatch.setattr(prompt_mode, "load_backend", lambda *_: backend)
    run_mode(ModeInputs(cell=cell, pairs=pairs, ood_pairs=None, features={}, train_unlabel=tu, test=test, ood=None,
                        method=load_method({"name": "vanilla", "labels": "soft"}), view=view))
    kinds = []
    for p in backend.prompts:
        demos = DEMO.findall(p)
        agrees = {(side == "good") == (label == "A") for side, label in demos}
        assert len(demos) == 4 and len(agrees) == 1, p  # one source per prompt: all gold or all weak
        kinds.append("gold" if agrees.pop() else "weak")
    assert kinds.count("gold") == n_test * 2  # the ceiling: test pairs, both orders
    assert kinds.count("weak") == (n_test + n_tu) * 2  # the student: test and train_unlabel pairs, both orders


@pytest.mark.parametrize("mode", ["prompt", "lora"])
def test_head_only_methods_are_refused_in_other_modes(mode):
    method = load_method({"name": "logconf", "impl": "transfer.methods.logconf:LogConf"})
    inputs = ModeInputs(cell={"mode": {"name": mode}, "method": {"name": "logconf"}}, pairs=None, ood_pairs=None,
                        features={}, train_unlabel=None, test=None, ood=None, method=method, view=None)
    with pytest.raises(ConfigError, match=f"does not support training mode '{mode}'"):
        run_mode(inputs)


TINY = ["setting.data.max_pairs=40", "setting.ood=null", "grid.settings=[lab]", "grid.seeds=[0]"]
MODES = {
    "prompt": ["mode=prompt", "grid.methods=[vanilla]", "mode.shots=2", "mode.ceiling_shots=2", "mode.diag_pairs=8",
               "mode.format.prompt_words=20", "mode.format.reply_words=30"],
    "lora": ["mode=lora_cpu", "grid.methods=[vanilla]", "mode.max_train_pairs=8", "mode.epochs=1"],
}


@pytest.mark.slow
@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_mode_cell_runs_through_sweep_and_mlflow(tmp_path, ray_local, mode):
    uri = f"sqlite:///{tmp_path / 'mlruns.db'}"
    with initialize_config_dir(str(paths.config_dir()), version_base="1.3"):
        assert sweep_main([*TINY, *MODES[mode], f"runtime.tracking_uri={uri}", f"study=tiny-{mode}"]) == 0
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(f"tiny-{mode}")
    (run,) = client.search_runs([exp.experiment_id], "tags.`transfer.role` = 'cell'")
    tags, m = run.data.tags, run.data.metrics
    assert run.info.status == "FINISHED" and tags["training_mode"] == mode and run.info.run_name.endswith(f"/{mode}/seed0")
    for key in ("weak_acc", "ceiling_acc", "w2s_acc", "pgr", "agreement_where_weak_wrong", "confident_disagreement"):
        assert key in m, key
    assert m["n_train_unlabel_scored"] == 8 if mode == "prompt" else m["n_train_unlabel_scored"] == 16
    if mode == "lora":
        assert m["mode_w2s_train_pairs"] == 8 and np.isfinite(m["mode_w2s_final_loss"])
