"""CenterNet targets: the CornerNet radius rule, Gaussian drawing, per-object target slots."""
from __future__ import annotations

import math

import numpy as np
import pytest

from clothpose.data.detection_targets import (centernet_targets, draw_gaussian, gaussian_kernel,
                                              gaussian_radius)


def case_ious(h: float, w: float, r: float) -> tuple[float, float, float]:
    """IoU with the true box of CornerNet's three displaced boxes at corner offset r."""
    inter = max(w - r, 0) * max(h - r, 0)
    translated = inter / (2 * w * h - inter)
    shrunk = max(w - 2 * r, 0) * max(h - 2 * r, 0) / (w * h)
    enlarged = w * h / ((w + 2 * r) * (h + 2 * r))
    return translated, shrunk, enlarged


@pytest.mark.parametrize("h, w", [(10, 10), (100, 100), (7, 60), (120, 9), (33.5, 80.25)])
def test_exact_radius_is_the_largest_keeping_iou_07(h, w):
    r = float(gaussian_radius(h, w, 0.7, rule="exact"))
    ious = case_ious(h, w, r)
    assert min(ious) == pytest.approx(0.7, abs=1e-9)          # the binding case sits at 0.7
    assert all(v >= 0.7 - 1e-9 for v in ious)
    assert min(case_ious(h, w, r * 1.01)) < 0.7               # a larger radius breaks it


def test_centernet_rule_reproduces_the_released_formula():
    # 100 x 100, t = 0.7: the released roots (b + sqrt(d)) / 2 of the three quadratics,
    # r1 = (200 + sqrt(200^2 - 4 * 1e4 * 0.3 / 1.7)) / 2, r2 = (400 + sqrt(400^2 - 16 * 3000)) / 2,
    # r3 = (-280 + sqrt(280^2 + 4 * 2.8 * 3000)) / 2 (b3 = -2 t (h + w); the smallest).
    r3 = (-280 + math.sqrt(280 ** 2 + 4 * 2.8 * 3000)) / 2
    assert float(gaussian_radius(100, 100, rule="centernet")) == pytest.approx(r3)
    assert float(gaussian_radius(100, 100, rule="exact")) < r3 / 2


def test_vectorised_radius_matches_scalar_calls():
    h = np.array([5.0, 40.0, 300.0])
    w = np.array([50.0, 40.0, 20.0])
    got = gaussian_radius(h, w)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [float(gaussian_radius(a, b)) for a, b in zip(h, w)])


def test_gaussian_kernel_shape_peak_and_sigma():
    g = gaussian_kernel(3)
    assert g.shape == (7, 7) and g[3, 3] == 1.0
    np.testing.assert_allclose(g, g.T)
    sigma = 7 / 6
    assert g[3, 5] == pytest.approx(math.exp(-4 / (2 * sigma ** 2)), rel=1e-6)


def test_draw_gaussian_takes_the_elementwise_maximum_and_clips():
    heat = np.zeros((10, 12), np.float32)
    draw_gaussian(heat, (2, 2), 2)
    draw_gaussian(heat, (4, 2), 3)
    a = np.zeros_like(heat)
    b = np.zeros_like(heat)
    a[0:5, 0:5] = gaussian_kernel(2)
    b[0:6, 1:8] = gaussian_kernel(3)[1:, :]
    np.testing.assert_array_equal(heat, np.maximum(a, b))
    draw_gaussian(heat, (11, 9), 4)                   # corner: clipped, peak kept
    assert heat[9, 11] == 1.0


def test_targets_of_two_objects():
    boxes = np.array([[2.0, 3.0, 10.5, 9.0], [20.25, 4.0, 30.0, 20.0], [5, 5, 5, 9]])  # 3rd: no area
    t = centernet_targets(boxes, np.array([1, 4, 0]), num_classes=5, output_size=(32, 24),
                          max_objects=4)
    assert t.heatmap.shape == (5, 24, 32) and t.mask.tolist() == [1, 1, 0, 0]
    assert t.heatmap[1, 6, 6] == 1.0 and t.heatmap[4, 12, 25] == 1.0   # floor of the centres
    assert (t.heatmap == 1.0).sum() == 2 and t.heatmap[[0, 2, 3]].max() == 0
    np.testing.assert_allclose(t.size[:2], [[8.5, 6.0], [9.75, 16.0]])
    np.testing.assert_allclose(t.offset[:2], [[0.25, 0.0], [0.125, 0.0]])
    assert t.index[:2].tolist() == [6 * 32 + 6, 12 * 32 + 25]


def test_targets_clip_to_the_map_and_respect_max_objects():
    boxes = np.array([[-10.0, -10.0, 6.0, 6.0], [1, 1, 3, 3], [4, 4, 8, 8]])
    t = centernet_targets(boxes, np.zeros(3, int), 1, (16, 16), max_objects=2)
    np.testing.assert_allclose(t.size[0], [6.0, 6.0])            # clipped to [0, 6]
    assert t.mask.tolist() == [1, 1]                                # the third is dropped
    edge = centernet_targets(np.array([[10.0, 12.0, 20.0, 16.0]]), np.zeros(1, int), 1, (16, 16))
    np.testing.assert_allclose(edge.size[0], [6.0, 4.0])           # to the map's extent, 16
    assert edge.index[0] == 14 * 16 + 13
