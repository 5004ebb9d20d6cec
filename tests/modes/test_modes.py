"""Training modes prompt and lora: a real cell of each through the real sweep -> Ray -> MLflow path (slow), and
the pieces that keep gold out of the student's prompt (fast)."""

import numpy as np
import pytest
from hydra import initialize_config_dir
from mlflow.tracking import MlflowClient

from transfer import paths
from transfer.data.pairs import Pair, PairSet
from transfer.data.splits import Split
from transfer.errors import ConfigError
from transfer.methods import load_method
from transfer.modes import ModeInputs, run_mode
from transfer.modes.lm import balanced_pick, demonstrations
from transfer.sweep import main as sweep_main


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
