"""The winner's effective learning-rate schedules (issue 12, item 7).

Reference behaviour, read from the winner's ``tools/train.py`` (HRNet's loop): the scheduler is
built after ``finetune_from`` loaded ``checkpoint['optimizer']``, and each epoch calls
``lr_scheduler.step()`` *before* training. That loop is replayed here literally with the
installed PyTorch (>= 1.4, as the issue assumes) and compared with clothpose's trainer order
(train the epoch at the current LR, then step) on the recipe files.
"""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from clothpose.config import load_config
from clothpose.core.checkpoint import restore_optimizer, save_training_state
from clothpose.core.optim import build_optimizer, build_scheduler

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "experiments" / "deepfashion2"


def _seed_loop(optimizer, epochs=12, milestones=(7, 10)) -> list[float]:
    """The winner's loop: MultiStepLR(optimizer, [7, 10], 0.1); per epoch step() then train."""
    sched = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), 0.1, last_epoch=-1)
    lrs = []
    for _ in range(epochs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")      # PyTorch warns about the seed's step order
            sched.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
    return lrs


def _our_loop(cfg, model, restore_from=None, epochs=12):
    """clothpose's trainer (tools/train.py): optimizer and scheduler from the config, optional
    TRAIN.INIT_OPTIMIZER restore, then per epoch: train at the current LR, then step."""
    optimizer = build_optimizer(cfg, model)
    sched = build_scheduler(cfg, optimizer)
    if restore_from is not None:
        restore_optimizer(optimizer, restore_from)
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        sched.step()
    return optimizer, sched, lrs


def _model():
    torch.manual_seed(0)
    m = torch.nn.Linear(3, 2)
    m.weight.grad = torch.ones_like(m.weight)
    m.bias.grad = torch.ones_like(m.bias)
    return m


def test_aggregation_schedule_equals_the_winners():
    agg = load_config(str(RECIPE / "hrnet-w48_512x384_agg81.yaml"))
    seed = _seed_loop(torch.optim.Adam(_model().parameters(), lr=1e-3))
    _, _, ours = _our_loop(agg, _model())
    assert ours == pytest.approx(seed, rel=1e-9)
    assert seed == pytest.approx([1e-3] * 6 + [1e-4] * 3 + [1e-5] * 3, rel=1e-9)


def test_winner_schedule_file_restores_the_aggregation_optimizer(tmp_path):
    agg_cfg = load_config(str(RECIPE / "hrnet-w48_512x384_agg81.yaml"))
    model = _model()
    opt, sched, _ = _our_loop(agg_cfg, model)
    ckpt = tmp_path / "checkpoint.pth"
    save_training_state(ckpt, epoch=12, model=model, optimizer=opt, scheduler=sched, perf=0.0,
                        best_perf=0.0)
    # the winner: a fresh optimizer at the YAML's 1e-4, then the aggregation state loaded
    seed_opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    seed_opt.load_state_dict(torch.load(ckpt, weights_only=True)["optimizer"])
    seed = _seed_loop(seed_opt)
    assert seed == pytest.approx([1e-5] * 6 + [1e-6] * 3 + [1e-7] * 3, rel=1e-9)

    winner = load_config(str(RECIPE / "hrnet-w48_512x384_agg81_finetune_winner-schedule.yaml"))
    assert winner.TRAIN.INIT_OPTIMIZER and winner.TRAIN.LR == pytest.approx(1e-5)
    ours_opt, _, ours = _our_loop(winner, model, restore_from=ckpt)
    assert ours == pytest.approx(seed, rel=1e-9)
    # Adam moments come back too (not only the rate)
    state = next(iter(ours_opt.state.values()))
    assert int(state["step"]) == 24
    plain = load_config(str(RECIPE / "hrnet-w48_512x384_agg81_finetune.yaml"))
    assert not plain.TRAIN.INIT_OPTIMIZER and plain.TRAIN.LR == pytest.approx(1e-4)
    assert plain.TEST.RESCORE_ALL_CHANNELS and winner.TEST.RESCORE_ALL_CHANNELS


def test_plain_weights_cannot_restore_an_optimizer(tmp_path):
    model = _model()
    torch.save(model.state_dict(), tmp_path / "model_best.pth")
    with pytest.raises(ValueError, match="needs a training checkpoint"):
        restore_optimizer(torch.optim.Adam(model.parameters()), tmp_path / "model_best.pth")


def test_train_tool_restores_the_optimizer(synthetic_df2, tmp_path):
    """tools/train.py with TRAIN.INIT_OPTIMIZER trains at the restored rate, not TRAIN.LR."""
    cfg = str(ROOT / "experiments/demo/tiny_agg81.yaml")
    tiny = ["MODEL.IMAGE_SIZE", "[64, 64]", "MODEL.HEATMAP_SIZE", "[16, 16]", "MODEL.SIGMA",
            "1.0", "MODEL.EXTRA.STAGE1.NUM_BLOCKS", "[1]", "MODEL.EXTRA.STAGE1.NUM_CHANNELS",
            "[16]", "MODEL.EXTRA.STEM_INPLANES", "16", "MODEL.EXTRA.STAGE4.NUM_CHANNELS",
            "[16, 32, 64, 64]", "TRAIN.BATCH_SIZE_PER_GPU", "4", "WORKERS", "0",
            "TRAIN.MAX_ITERS_PER_EPOCH", "1", "PRINT_FREQ", "0", "TRAIN.VAL_FREQ", "0",
            "DATASET.ROOT", str(synthetic_df2.root), "LOG_DIR", str(tmp_path / "log"),
            "TRAIN.END_EPOCH", "1"]
    env = dict(os.environ, OMP_NUM_THREADS="1")

    def train(out, *extra):
        r = subprocess.run([sys.executable, str(ROOT / "tools/train.py"), "--cfg", cfg, *tiny,
                            "OUTPUT_DIR", str(out), *extra], capture_output=True, text=True,
                           env=env, cwd=ROOT)
        assert r.returncode == 0, r.stdout + r.stderr
        return (next(Path(out).rglob("train.log"))).read_text()

    train(tmp_path / "a", "TRAIN.LR", "3e-05")
    first = next((tmp_path / "a").rglob("checkpoint.pth"))
    log = train(tmp_path / "b", "TRAIN.LR", "1e-3", "TRAIN.INIT_FROM", str(first),
                "TRAIN.INIT_OPTIMIZER", "True")
    assert "learning rate 3.00e-05" in log and "lr 3.00e-05" in log
