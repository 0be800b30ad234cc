"""Losses against hand-computed values and the reference definitions."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from clothpose.config import get_cfg
from clothpose.core.loss import (CPNLoss, JointsMSELoss, JointsOHKMMSELoss, build_loss)


def hrnet_mse_loop(output, target, weight):
    """HRNet's JointsMSELoss, written as its per-joint loop (the definition we must match)."""
    n, k = output.shape[:2]
    mse = nn.MSELoss(reduction="mean")
    pred, gt = output.reshape(n, k, -1), target.reshape(n, k, -1)
    total = 0
    for j in range(k):
        w = weight[:, j].reshape(n, 1)
        total = total + 0.5 * mse(pred[:, j] * w, gt[:, j] * w)
    return total / k


def cpn_reference(target, pred, vis, ratio):
    """FashionAI reference: batch-pooled balanced L1 per channel, top floor(K*ratio) mean."""
    eps = 1e-4
    amp = target.max()
    n, k = target.shape[:2]
    losses = []
    for c in range(k):
        t, p = target[:, c].reshape(n, -1), torch.relu(pred[:, c]).reshape(n, -1)
        use = (vis[:, c] >= 0).reshape(n, 1).expand_as(t)
        pos, neg = (t > amp / 10) & use, (t <= amp / 10) & use
        d = (t - p).abs()
        losses.append(0.5 * d[pos].sum() / (pos.sum() + eps) + 0.5 * d[neg].sum() / (neg.sum() + eps))
    losses = torch.stack(losses)
    if ratio < 1:
        losses = losses.topk(int(k * ratio)).values
    return losses.mean()


def constant_maps(values):
    """(N, K, 2, 2) heatmaps whose channel (n, k) is the constant values[n][k]."""
    return torch.tensor(values, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 2, 2).clone()


def test_mse_hand_computed():
    pred = torch.zeros(1, 2, 2, 2)
    pred[0, 0, 0, 0] = 1.0          # channel 0: squared errors 1, 0, 0, 0 -> mean 0.25
    pred[0, 1, 0] = 2.0             # channel 1: 4, 4, 0, 0 -> mean 2
    gt = torch.zeros_like(pred)
    loss = JointsMSELoss(use_target_weight=True)
    assert loss(pred, gt, torch.ones(1, 2, 1)).item() == pytest.approx((0.125 + 1.0) / 2)
    assert loss(pred, gt, torch.tensor([[[1.0], [0.0]]])).item() == pytest.approx(0.0625)
    # HRNet weights both sides: weight 2 multiplies the squared error by 4.
    assert loss(pred, gt, torch.tensor([[2.0, 1.0]])).item() == pytest.approx((0.5 + 1.0) / 2)
    unweighted = JointsMSELoss(use_target_weight=False)
    assert unweighted(pred, gt, torch.zeros(1, 2)).item() == pytest.approx(0.5625)


def test_mse_equals_hrnet_loop_and_sums_outputs():
    g = torch.Generator().manual_seed(0)
    pred, gt = torch.rand(3, 4, 5, 6, generator=g), torch.rand(3, 4, 5, 6, generator=g)
    w = (torch.rand(3, 4, 1, generator=g) > 0.3).float()
    expected = hrnet_mse_loop(pred, gt, w)
    loss = JointsMSELoss(True)
    torch.testing.assert_close(loss(pred, gt, w), expected)
    torch.testing.assert_close(loss([pred, pred * 0.5], gt, w),
                               expected + hrnet_mse_loop(pred * 0.5, gt, w))


def test_ohkm_picks_top_k_per_sample():
    # per-keypoint loss = 0.5 * c**2: sample 0 -> [0.5, 2, 4.5], sample 1 -> [4.5, 0, 0.5]
    pred = constant_maps([[1.0, 2.0, 3.0], [3.0, 0.0, 1.0]])
    gt = torch.zeros_like(pred)
    loss = JointsOHKMMSELoss(use_target_weight=True, topk=2)
    assert loss(pred, gt, torch.ones(2, 3)).item() == pytest.approx((3.25 + 2.5) / 2)
    # Zeroing sample 0's hardest keypoint leaves [0.5, 2, 0] -> top-2 mean 1.25.
    w = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    assert loss(pred, gt, w).item() == pytest.approx((1.25 + 2.5) / 2)
    with pytest.raises(ValueError, match="TOPK 4 exceeds the 3 keypoints"):
        JointsOHKMMSELoss(True, topk=4)(pred, gt, w)


def cpn_example():
    target = torch.tensor([[[[10.0, 2.0, 0.0, 0.0]], [[0.0, 0.0, 5.0, 0.0]]]])   # (1, 2, 1, 4)
    pred = torch.tensor([[[[7.0, 2.0, -1.0, 1.0]], [[0.0, 0.0, 5.0, 4.0]]]])
    return target, pred


def test_cpn_positive_negative_split_hand_computed():
    target, pred = cpn_example()
    # threshold = max(target) / 10 = 1. Channel 0: positives {10, 2}, |diff| 3, 0 -> 1.5;
    # negatives {0, 0}, relu(pred) 0, 1 -> 0.5; loss 0.5 * 1.5 + 0.5 * 0.5 = 1.0.
    # Channel 1: positive {5}: 0; negatives |diff| 0, 0, 4 -> 4/3; loss 2/3.
    loss = CPNLoss(ohkm_ratio=0.5, relu=True)
    losses, valid = loss.channel_losses(pred, target, torch.ones(1, 2))
    torch.testing.assert_close(losses, torch.tensor([1.0, 2 / 3]), rtol=1e-3, atol=0)
    assert valid.tolist() == [True, True]
    # [global, refine]: mean over channels + top floor(2 * 0.5) = 1 channel.
    assert loss([pred, pred], target, torch.ones(1, 2)).item() == pytest.approx(
        (1.0 + 2 / 3) / 2 + 1.0, rel=1e-3)
    # A single output is the refine stage.
    assert loss(pred, target, torch.ones(1, 2)).item() == pytest.approx(1.0, rel=1e-3)
    # Channel 0 without weight is excluded from both averages.
    assert loss([pred, pred], target, torch.tensor([[0.0, 1.0]])).item() == pytest.approx(
        2 / 3 + 2 / 3, rel=1e-3)


def test_cpn_matches_reference_definition_on_random_batch():
    g = torch.Generator().manual_seed(1)
    target = torch.rand(3, 6, 8, 8, generator=g) ** 8 * 100  # peaked maps, amplitude ~100
    pred_g, pred_r = torch.randn(3, 6, 8, 8, generator=g) * 20, torch.randn(3, 6, 8, 8, generator=g) * 20
    vis = torch.tensor([[1, 0, 1, -1, 1, 1], [1, 1, 0, 1, 1, -1], [0, 1, 1, 1, -1, 1]])
    expected = cpn_reference(target, pred_g, vis, 1.0) + cpn_reference(target, pred_r, vis, 0.5)
    got = CPNLoss(0.5, relu=True)([pred_g, pred_r], target, (vis >= 0).float())
    torch.testing.assert_close(got, expected)


def test_cpn_default_loss_revives_a_channel_that_is_negative_everywhere():
    target = torch.zeros(1, 2, 4, 4)
    target[0, :, 1, 1] = 100.0
    pred = torch.full((1, 2, 4, 4), -1.0, requires_grad=True)
    CPNLoss(1.0, relu=True)(pred, target, torch.ones(1, 2)).backward()
    assert pred.grad.abs().sum() == 0          # the reference's ReLU: a dead channel stays dead
    pred.grad = None
    CPNLoss(1.0)(pred, target, torch.ones(1, 2)).backward()
    assert (pred.grad < 0).all()               # raw L1: every pixel is pushed up toward the target


def test_losses_backward_and_zero_weight_gives_zero():
    g = torch.Generator().manual_seed(2)
    target = torch.rand(2, 3, 4, 4, generator=g)
    for loss in (JointsMSELoss(True), JointsOHKMMSELoss(True, topk=2), CPNLoss(0.5)):
        pred = torch.randn(2, 3, 4, 4, generator=g, requires_grad=True)
        value = loss([pred, pred * 2], target, torch.ones(2, 3))
        value.backward()
        assert value.item() > 0 and pred.grad.abs().sum() > 0
        pred.grad = None
        zero = loss([pred, pred * 2], target, torch.zeros(2, 3))
        zero.backward()
        assert zero.item() == 0 and not pred.grad.abs().sum()


def test_build_loss_from_config():
    cfg = get_cfg()
    cfg.MODEL.NUM_JOINTS = 13
    assert type(build_loss(cfg)) is JointsMSELoss
    cfg.LOSS.USE_OHKM, cfg.LOSS.TOPK = True, 5
    ohkm = build_loss(cfg)
    assert type(ohkm) is JointsOHKMMSELoss and ohkm.topk == 5
    cfg.LOSS.NAME = "cpn_l1"
    assert build_loss(cfg).num_kept(13) == 5               # USE_OHKM + TOPK
    cfg.LOSS.OHKM_RATIO = 0.5
    assert build_loss(cfg).num_kept(13) == 6               # blouse: 6 of 13 (FashionAI doc)
    cfg.LOSS.USE_OHKM, cfg.LOSS.OHKM_RATIO = False, 0.0
    assert build_loss(cfg).num_kept(13) == 13              # no mining
    cfg.LOSS.NAME = "focal"
    with pytest.raises(ValueError, match=r"LOSS.NAME 'focal' is unknown"):
        build_loss(cfg)


def test_shape_errors_are_reported():
    with pytest.raises(ValueError, match=r"output shape \(1, 2, 4, 4\) != target shape"):
        JointsMSELoss(True)(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 3, 4), torch.ones(1, 2))
    with pytest.raises(ValueError, match=r"target_weight has shape \(1, 3\), expected \(1, 2\)"):
        CPNLoss(0.5)(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 4), torch.ones(1, 3))
