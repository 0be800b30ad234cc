"""CenterNet losses against hand-computed values of the paper's definitions."""
from __future__ import annotations

import math

import pytest
import torch

from clothpose.core.detection_loss import CenterNetLoss, focal_loss, gather_at, masked_l1


def logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_focal_loss_hand_computed():
    # one positive (Y = 1, p = 0.8), one near-positive (Y = 0.5, p = 0.6), one negative (p = 0.1)
    logits = torch.tensor([logit(0.8), logit(0.6), logit(0.1)]).reshape(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.5, 0.0]).reshape(1, 1, 1, 3)
    pos = (1 - 0.8) ** 2 * math.log(0.8)
    neg = (1 - 0.5) ** 4 * 0.6 ** 2 * math.log(0.4) + 0.1 ** 2 * math.log(0.9)
    assert float(focal_loss(logits, target)) == pytest.approx(-(pos + neg), rel=1e-5)


def test_focal_loss_without_objects_is_the_negative_term_alone():
    logits = torch.full((2, 3, 4, 4), logit(0.2))
    expected = -(2 * 3 * 16) * 0.2 ** 2 * math.log(0.8)
    assert float(focal_loss(logits, torch.zeros_like(logits))) == pytest.approx(expected, rel=1e-5)


def test_focal_loss_clamps_the_sigmoid():
    logits = torch.tensor([-100.0, 100.0]).reshape(1, 1, 1, 2)
    target = torch.tensor([1.0, 0.0]).reshape(1, 1, 1, 2)
    got = float(focal_loss(logits, target))
    p = 1e-4   # both cells sit at the clamp: positive p = 1e-4, negative p = 1 - 1e-4
    expected = -((1 - p) ** 2 * math.log(p) + (1 - p) ** 2 * math.log(p))
    assert got == pytest.approx(expected, rel=1e-4) and math.isfinite(got)


def test_gather_and_masked_l1():
    maps = torch.arange(2 * 2 * 3 * 4, dtype=torch.float32).reshape(2, 2, 3, 4)
    index = torch.tensor([[5, 0], [11, 3]])
    got = gather_at(maps, index)
    assert got.shape == (2, 2, 2)
    assert got[0, 0].tolist() == [5.0, 17.0] and got[1, 0].tolist() == [35.0, 47.0]
    mask = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    target = got + torch.tensor([[[1.0, -2.0], [100.0, 100.0]], [[0.5, 0.5], [0.0, 3.0]]])
    # masked |diffs|: 1 + 2 + 0.5 + 0.5 + 0 + 3 = 7 over 6 values (+ 1e-4)
    assert float(masked_l1(maps, index, mask, target)) == pytest.approx(7 / (6 + 1e-4))


def test_total_is_the_weighted_sum():
    g = torch.Generator().manual_seed(0)
    out = (torch.randn(2, 3, 8, 8, generator=g), torch.randn(2, 2, 8, 8, generator=g),
           torch.randn(2, 2, 8, 8, generator=g))
    heat = torch.rand(2, 3, 8, 8, generator=g) * 0.9
    heat[0, 1, 2, 3] = heat[1, 2, 5, 5] = 1.0
    target = {"heatmap": heat, "size": torch.rand(2, 4, 2, generator=g) * 5,
              "offset": torch.rand(2, 4, 2, generator=g), "index": torch.tensor([[19, 0, 0, 0],
                                                                                 [45, 1, 0, 0]]),
              "mask": torch.tensor([[1.0, 0, 0, 0], [1.0, 1.0, 0, 0]])}
    loss = CenterNetLoss(1.0, 0.1, 1.0)
    parts = loss.components(out, target)
    expected = parts["heatmap"] + 0.1 * parts["size"] + parts["offset"]
    assert float(loss(out, target)) == pytest.approx(float(expected))
    assert float(CenterNetLoss(0, 1, 0)(out, target)) == pytest.approx(float(parts["size"]))
    # gradients reach all three outputs
    leaves = [o.clone().requires_grad_(True) for o in out]
    loss(leaves, target).backward()
    assert all(leaf.grad is not None and leaf.grad.abs().sum() > 0 for leaf in leaves)
