"""FashionAI workflow pieces: prediction tables, NE stats, heatmap and result ensembles."""
from __future__ import annotations

import types

import numpy as np
import pytest
import torch
from torch import nn

from clothpose.core.function import predict_heatmaps
from clothpose.data.fashionai_csv import FashionAICSVError, FashionAITable
from clothpose.keypoints import get_scheme
from clothpose.workflow.fashionai import (HeatmapAverage, average_tables, format_ne_table,
                                          ne_stats, predictions_table)

FULL = get_scheme("fashionai")


def skirt_gt() -> FashionAITable:
    """Two skirts: waistband 0-1 at distance 50 and 100; v = 1, 1, 0, 1 / all 1."""
    kps = np.full((2, 24, 3), -1.0)
    kps[0, [15, 16, 17, 18]] = [[0, 0, 1], [50, 0, 1], [0, 80, 0], [50, 80, 1]]
    kps[1, [15, 16, 17, 18]] = [[0, 0, 1], [100, 0, 1], [0, 90, 1], [100, 90, 1]]
    return FashionAITable("gt.csv", ["a.jpg", "b.jpg"], np.array([4, 4]), kps)


def test_ne_stats_hand_computed():
    gt = skirt_gt()
    pred = FashionAITable("pred.csv", ["b.jpg", "a.jpg"], np.array([4, 4]), gt.keypoints[::-1])
    pred.keypoints = pred.keypoints.copy()
    pred.keypoints[1, 15, :2] += [3, 4]      # image a: 5 px off at a visible point, s = 50
    pred.keypoints[1, 17, :2] += [30, 40]    # occluded: not scored
    pred.keypoints[0, 18, :2] += [6, 8]      # image b: 10 px off, s = 100
    stats = ne_stats(pred, gt)
    # scored keypoints: 3 (a) + 4 (b) = 7; errors 5/50 + 10/100 = 0.2 -> 0.2 / 7 = 2.857 %
    assert stats["count"] == 7 and stats["images"] == 2
    assert stats["NE"] == pytest.approx(100 * 0.2 / 7) and stats["AP"] == -stats["NE"]
    assert stats["per_type"]["skirt"]["ne"] == pytest.approx(stats["NE"])
    assert stats["per_keypoint"]["waistband_left"] == pytest.approx(100 * 0.1 / 2)
    table = format_ne_table(stats)
    assert "| skirt | 2.857 | 7 | 2 |" in table and "**2.857**" in table
    pred.image_ids = ["b.jpg", "c.jpg"]
    with pytest.raises(FashionAICSVError, match="no prediction for 1 images"):
        ne_stats(pred, gt)


def test_predictions_table_from_a_per_type_scheme():
    skirt = get_scheme("fashionai-skirt")
    raw = types.SimpleNamespace(indices=np.array([1, 0]), category_ids=np.array([4, 4]),
                                keypoints=np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3))
    ds = types.SimpleNamespace(scheme=skirt, records=[{"image_id": "x.jpg"}, {"image_id": "y.jpg"}])
    t = predictions_table(raw, ds)
    assert t.image_ids == ["y.jpg", "x.jpg"]
    np.testing.assert_array_equal(t.keypoints[0, 15:19, :2], raw.keypoints[0, :, :2])
    np.testing.assert_array_equal(t.keypoints[0, 15:19, 2], 1)
    assert np.all(t.keypoints[:, :15] == -1) and np.all(t.keypoints[:, 19:] == -1)


def test_average_tables_means_coordinates_and_checks_images():
    a = skirt_gt()
    b = FashionAITable("b.csv", ["b.jpg", "a.jpg"], np.array([4, 4]), a.keypoints[::-1].copy())
    b.keypoints[1, 15, :2] = [10, 20]        # image a, waistband_left: (0, 0) and (10, 20)
    b.keypoints[0, 17, 2] = -1               # image b: absent in one table -> absent
    m = average_tables([a, b])
    assert m.image_ids == ["a.jpg", "b.jpg"]
    np.testing.assert_allclose(m.keypoints[0, 15], [5, 10, 1])
    np.testing.assert_allclose(m.keypoints[1, 17], [-1, -1, -1])
    np.testing.assert_allclose(m.keypoints[1, 18], [100, 90, 1])
    c = FashionAITable("c.csv", ["a.jpg", "z.jpg"], np.array([4, 4]), a.keypoints)
    with pytest.raises(FashionAICSVError, match="different images"):
        average_tables([a, c])
    d = FashionAITable("d.csv", ["a.jpg", "b.jpg"], np.array([4, 3]), a.keypoints)
    with pytest.raises(FashionAICSVError, match="types disagree"):
        average_tables([a, d])


class Linear(nn.Module):
    """A 1x1 conv whose output is a fixed linear map of the input (CPN-like list output)."""

    def __init__(self, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        return [y * 0.5, y]


def test_heatmap_average_equals_mean_of_members_with_flip_test():
    a, b = Linear(0).eval(), Linear(1).eval()
    x = torch.randn(2, 3, 8, 8)
    flip = np.array([1, 0, 2, 3])
    ens = HeatmapAverage([a, b]).eval()
    with torch.no_grad():
        np.testing.assert_allclose(ens(x).numpy(), ((a(x)[1] + b(x)[1]) / 2).numpy(), atol=1e-6)
    got = predict_heatmaps(ens, x, flip_index=flip, shift_heatmap=False)
    ref = (predict_heatmaps(a, x, flip_index=flip, shift_heatmap=False)
           + predict_heatmaps(b, x, flip_index=flip, shift_heatmap=False)) / 2
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_heatmap_average_rejects_different_shapes():
    class Other(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 5, 1)

        def forward(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="different heatmap shapes"):
        HeatmapAverage([Linear(0), Other()])(torch.zeros(1, 3, 4, 4))


def test_cpn_mining_per_type_layout_keeps_half_of_the_types_channels():
    """Reference: RefineNet keeps floor(K/2) of a type's K channel losses (skirt: 2 of 4). With
    the type's own scheme that is what the loss does; in the 24-channel layout with a type
    filter the other 20 channels carry no weight and all 4 valid ones are kept."""
    from clothpose.core.loss import CPNLoss

    loss = CPNLoss(0.5)
    target = torch.zeros(2, 4, 8, 8)
    target[:, :, 4, 4] = 1.0
    pred = torch.zeros(2, 4, 8, 8)
    for c, err in enumerate([0.1, 0.4, 0.2, 0.8]):       # per-channel error at the positive pixel
        pred[:, c, 4, 4] = 1.0 - err
    per_channel = loss.channel_losses(pred, target, torch.ones(2, 4))[0]
    np.testing.assert_allclose(per_channel.numpy(), 0.5 * np.array([0.1, 0.4, 0.2, 0.8]),
                               rtol=1e-3)
    total = loss([pred, pred], target, torch.ones(2, 4))
    global_part = per_channel.mean()
    refine_part = (per_channel[3] + per_channel[1]) / 2                  # top 2 of 4
    assert float(total) == pytest.approx(float(global_part + refine_part), rel=1e-5)
    wide_pred = torch.zeros(2, 24, 8, 8)
    wide_target = torch.zeros(2, 24, 8, 8)
    skirt = [15, 16, 17, 18]
    wide_pred[:, skirt], wide_target[:, skirt] = pred, target
    weight = torch.zeros(2, 24)
    weight[:, skirt] = 1
    wide = loss([wide_pred, wide_pred], wide_target, weight)
    assert float(wide) == pytest.approx(float(2 * per_channel.mean()), rel=1e-5)
