"""Checkpoint state round trips, safe loading, and the monitoring accuracy."""
import os
import pickle
import random

import numpy as np
import pytest
import torch

from clothpose.core.checkpoint import (load_model_weights, load_training_state, rng_state,
                                       save_training_state, set_rng_state)
from clothpose.core.evaluate import heatmap_accuracy
from clothpose.errors import CheckpointError
from clothpose.utils.io import load_checkpoint


def test_rng_state_round_trip_through_a_weights_only_file(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, [1], 0.1)
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    sched.step()
    save_training_state(tmp_path / "c.pth", epoch=5, model=model, optimizer=opt, scheduler=sched,
                        perf=0.3, best_perf=0.4)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    model2 = torch.nn.Linear(3, 2)
    opt2 = torch.optim.Adam(model2.parameters(), lr=0.1)
    sched2 = torch.optim.lr_scheduler.MultiStepLR(opt2, [1], 0.1)
    ckpt = load_training_state(tmp_path / "c.pth", model2, opt2, sched2)
    assert ckpt["epoch"] == 5 and ckpt["best_perf"] == 0.4
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.01)
    torch.testing.assert_close(model2.weight, model.weight)
    got = (torch.rand(3), np.random.rand(3), random.random())
    torch.testing.assert_close(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    assert got[2] == expected[2]
    set_rng_state(rng_state())  # idempotent


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": _Evil()}, f)
    with pytest.raises(ValueError, match="weights_only"):
        load_checkpoint(path)


def test_model_weights_load_from_any_hrnet_layout_and_mismatch_is_an_error(tmp_path):
    src = torch.nn.Linear(2, 2)
    torch.save({"state_dict": {"module." + k: v for k, v in src.state_dict().items()}, "epoch": 3},
               tmp_path / "ckpt.pth")
    dst = torch.nn.Linear(2, 2)
    load_model_weights(dst, tmp_path / "ckpt.pth")
    torch.testing.assert_close(dst.weight, src.weight)
    with pytest.raises(CheckpointError, match="ckpt.pth: does not fit the model.*size mismatch"):
        load_model_weights(torch.nn.Linear(2, 3), tmp_path / "ckpt.pth")


def test_heatmap_accuracy_hand_computed():
    target = np.zeros((2, 3, 20, 20), np.float32)
    output = np.zeros_like(target)
    target[:, 0, 10, 10] = 1
    target[:, 1, 5, 5] = 1           # channel 2 has no target: not counted
    output[0, 0, 10, 11] = 1         # 1 px off: norm is 2 px, distance 0.5 -> not < 0.5? equal
    output[1, 0, 10, 10] = 1         # exact
    output[:, 1, 15, 15] = 1         # far away: miss
    acc, cnt = heatmap_accuracy(output, target)
    # channel 0: sample 0 at distance exactly 0.5 (miss, strict <), sample 1 hit -> 0.5
    # channel 1: two misses -> 0.0; mean over counted channels = 0.25
    assert cnt == 2 and acc == pytest.approx(0.25)
