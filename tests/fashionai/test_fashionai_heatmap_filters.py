"""Heatmap filters of the FashionAI reference: Gaussian blur and the 1/4 offset to the 2nd max."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from clothpose.config import load_config
from clothpose.core.heatmap_filters import (blur_heatmaps, blur_sigma, decode_heatmaps,
                                            gaussian_kernel_1d, second_max_coords)
from clothpose.core.inference import get_final_preds, heatmap_to_image
from clothpose.core.testing import make_decoder


def test_blur_matches_opencv_per_channel():
    rng = np.random.default_rng(0)
    hm = rng.random((2, 3, 11, 13)).astype(np.float32)
    for k in (3, 5, 7):
        ref = np.stack([[cv2.GaussianBlur(c, (k, k), blur_sigma(k)) for c in s] for s in hm])
        out = blur_heatmaps(hm, k)
        assert out.shape == hm.shape and out.dtype == np.float32
        np.testing.assert_allclose(out, ref, atol=1e-6)
    # k = 5 is exactly the reference's cv2.GaussianBlur(hm, (5, 5), 1)
    np.testing.assert_allclose(blur_heatmaps(hm, 5)[1, 2], cv2.GaussianBlur(hm[1, 2], (5, 5), 1),
                               atol=1e-6)


def test_blur_of_a_delta_is_the_hand_computed_kernel():
    # k = 3 -> sigma 0.5: weights exp(-2), 1, exp(-2) normalised
    e = np.exp(-2.0)
    g = np.array([e, 1.0, e]) / (1 + 2 * e)
    np.testing.assert_allclose(gaussian_kernel_1d(3), g)
    hm = np.zeros((1, 1, 5, 5))
    hm[0, 0, 2, 2] = 1.0
    out = blur_heatmaps(hm, 3)[0, 0]
    np.testing.assert_allclose(out[1:4, 1:4], np.outer(g, g))
    assert out[0].sum() == 0 and out[:, 0].sum() == 0
    assert out.sum() == pytest.approx(1.0)        # interior mass is preserved


def test_blur_border_reflects_101_and_validates_kernel():
    hm = np.zeros((1, 1, 4, 4), np.float32)
    hm[0, 0, 0, 1] = 1.0
    out = blur_heatmaps(hm, 3)[0, 0]
    g = gaussian_kernel_1d(3)
    # reflect-101: column -1 mirrors column 1, so pixel (0, 0) gets the unit value from both
    # sides (2 g0); zero or replicate padding would give g0 once. Rows: row -1 mirrors row 1 (0).
    assert out[0, 0] == pytest.approx(2 * g[0] * g[1])
    assert out[0, 1] == pytest.approx(g[1] * g[1])
    np.testing.assert_array_equal(blur_heatmaps(hm, 1), hm)
    for bad in (0, 4, -3, 2.5):
        with pytest.raises(ValueError, match="TEST.BLUR_KERNEL"):
            blur_heatmaps(hm, bad)


def test_second_max_offset_hand_values():
    hm = np.zeros((1, 4, 5, 6))
    hm[0, 0, 1, 2], hm[0, 0, 1, 3] = 1.0, 0.8      # second to the right: x + 1/4
    hm[0, 1, 3, 4], hm[0, 1, 2, 4] = 2.0, 1.5      # second above: y - 1/4
    hm[0, 2, 2, 2], hm[0, 2, 3, 1] = 1.0, 0.9      # diagonal (down-left)
    hm[0, 3] = -1.0                                # no positive maximum -> 0, 0
    hm[0, 3, 4, 5] = -0.5
    coords, maxvals = second_max_coords(hm)
    np.testing.assert_allclose(coords[0], [[2.25, 1.0], [4.0, 2.75], [1.75, 2.25], [0.0, 0.0]])
    np.testing.assert_allclose(maxvals[0, :, 0], [1.0, 2.0, 1.0, -0.5])


def test_second_max_ties_take_raster_order():
    hm = np.zeros((1, 1, 3, 3))
    hm[0, 0, 0, 2] = hm[0, 0, 2, 0] = 1.0           # equal peaks: first (2, 0), second (0, 2)
    coords, _ = second_max_coords(hm)
    np.testing.assert_allclose(coords[0, 0], [(3 * 2 + 0) / 4, (3 * 0 + 2) / 4])


def test_decode_heatmaps_composes_blur_offset_and_back_projection():
    rng = np.random.default_rng(1)
    hm = rng.random((2, 3, 16, 12)).astype(np.float32)
    c = np.array([[50.0, 60.0], [30.0, 40.0]])
    s = np.array([[0.4, 0.5], [0.3, 0.4]])
    xy, mv = decode_heatmaps(hm, c, s, blur_kernel=5, second_max=True)
    coords, ref_mv = second_max_coords(blur_heatmaps(hm, 5))
    np.testing.assert_allclose(xy, heatmap_to_image(coords, c, s, (12, 16)))
    np.testing.assert_allclose(mv, ref_mv)
    xy2, _ = decode_heatmaps(hm, c, s, post_process=True)
    np.testing.assert_allclose(xy2, get_final_preds(hm, c, s, post_process=True)[0])


def test_make_decoder_switches_on_the_test_keys():
    rng = np.random.default_rng(2)
    hm = rng.random((1, 2, 16, 16)).astype(np.float32)
    c, s = np.array([[32.0, 32.0]]), np.array([[0.32, 0.32]])
    plain = make_decoder(load_config(None, ["TEST.POST_PROCESS", "True"]))(hm, c, s)[0]
    np.testing.assert_allclose(plain, get_final_preds(hm, c, s, post_process=True)[0])
    cfg = load_config(None, ["TEST.BLUR_KERNEL", "5", "TEST.SECOND_MAX_OFFSET", "True"])
    np.testing.assert_allclose(make_decoder(cfg)(hm, c, s)[0],
                               decode_heatmaps(hm, c, s, blur_kernel=5, second_max=True)[0])
    blur_only = make_decoder(load_config(None, ["TEST.BLUR_KERNEL", "3"]))(hm, c, s)[0]
    np.testing.assert_allclose(blur_only, get_final_preds(blur_heatmaps(hm, 3), c, s,
                                                          post_process=False)[0])
