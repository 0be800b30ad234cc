"""Heatmap decoding (HRNet semantics, DARK), back-projection, flip-back and rescoring."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from clothpose.core.inference import (dark_refine, get_final_preds, get_max_preds,
                                      heatmap_to_image, rescore)
from clothpose.keypoints import get_scheme
from clothpose.utils.transforms import flip_back, get_affine_transform

H, W = 16, 24


def test_single_peak_quarter_shift_and_back_projection():
    hm = np.zeros((1, 3, H, W), np.float32)
    hm[0, 0, 7, 10] = 1.0                            # peak at x=10, y=7
    hm[0, 0, 7, 11], hm[0, 0, 7, 9] = 0.6, 0.2       # right higher -> +0.25 in x
    hm[0, 0, 6, 10], hm[0, 0, 8, 10] = 0.7, 0.1      # upper higher -> -0.25 in y
    hm[0, 1, 5, 1] = 1.0                             # px = 1: on the border band, no shift
    hm[0, 1, 5, 2] = 0.5
    hm[0, 2] = -1.0                                  # max <= 0 -> coordinates 0
    coords, maxvals = get_max_preds(hm)
    np.testing.assert_array_equal(coords[0], [[10, 7], [1, 5], [0, 0]])
    np.testing.assert_array_equal(maxvals[0, :, 0], [1.0, 1.0, -1.0])
    # scale * 200 = 2 * W: one heatmap pixel = 2 image pixels, heatmap centre -> box centre
    center, scale = np.array([[100.0, 200.0]]), np.array([[2 * W / 200, 2 * H / 200]])
    preds, _ = get_final_preds(hm, center, scale)
    expected_hm = np.array([[10.25, 6.75], [1, 5], [0, 0]])
    expected = (expected_hm - [W / 2, H / 2]) * 2 + [100, 200]
    np.testing.assert_allclose(preds[0], expected, atol=1e-4)   # float32 anchor points
    raw, _ = get_final_preds(hm, center, scale, post_process=False)
    np.testing.assert_allclose(raw[0, 0], ([10, 7] - np.array([W / 2, H / 2])) * 2 + [100, 200],
                               atol=1e-4)


def _hrnet_loops(hm, center, scale):
    """HRNet's decoding written plainly (per sample, per keypoint)."""
    n, k, h, w = hm.shape
    out = np.zeros((n, k, 2))
    for i in range(n):
        trans = get_affine_transform(center[i], scale[i], 0, [w, h], inv=True)
        for j in range(k):
            m = hm[i, j]
            y, x = np.unravel_index(np.argmax(m), m.shape)
            x, y = (float(x), float(y)) if m.max() > 0 else (0.0, 0.0)
            px, py = int(math.floor(x + 0.5)), int(math.floor(y + 0.5))
            if 1 < px < w - 1 and 1 < py < h - 1:
                x += np.sign(m[py, px + 1] - m[py, px - 1]) * 0.25
                y += np.sign(m[py + 1, px] - m[py - 1, px]) * 0.25
            out[i, j] = trans @ [x, y, 1.0]
    return out


def test_matches_hrnet_loops_on_random_heatmaps():
    rng = np.random.default_rng(0)
    hm = rng.random((5, 7, H, W)).astype(np.float32) - 0.1
    hm[0, 0] = -0.5
    hm[1, 2, :, :] = np.round(hm[1, 2], 1)           # plateaus -> zero differences
    center = rng.uniform(50, 400, (5, 2)).astype(np.float32)
    scale = rng.uniform(0.3, 3, (5, 2)).astype(np.float32)
    preds, _ = get_final_preds(hm, center, scale)
    np.testing.assert_allclose(preds, _hrnet_loops(hm, center, scale), rtol=0, atol=1e-9)


def test_heatmap_to_image_round_trip():
    rng = np.random.default_rng(1)
    center, scale = rng.uniform(0, 500, (3, 2)), rng.uniform(0.2, 4, (3, 2))
    pts = rng.uniform(0, W, (3, 4, 2))
    img = heatmap_to_image(pts, center, scale, (W, H))
    for i in range(3):
        fwd = get_affine_transform(center[i], scale[i], 0, [W, H])
        back = img[i] @ fwd[:, :2].T + fwd[:, 2]
        np.testing.assert_allclose(back, pts[i], atol=1e-6)


def _gaussian(h, w, cx, cy, sigma=2.0):
    x, y = np.meshgrid(np.arange(w), np.arange(h))
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma ** 2)).astype(np.float32)


def test_dark_recovers_subpixel_centre_better_than_quarter_offset():
    true = np.array([[40.3, 50.7], [20.62, 90.15], [70.5, 30.9]])
    hm = np.stack([_gaussian(128, 96, x, y) for x, y in true])[None]
    center, scale = np.array([[48.0, 64.0]]), np.array([[96 / 200, 128 / 200]])  # identity map
    quarter, _ = get_final_preds(hm, center, scale)
    dark, _ = get_final_preds(hm, center, scale, dark=True)
    err_q = np.linalg.norm(quarter[0] - true, axis=1)
    err_d = np.linalg.norm(dark[0] - true, axis=1)
    assert (err_d < 0.05).all() and (err_d < err_q).all(), (err_d, err_q)


def _dark_full_map(hm, coords, kernel=11):
    """DARK as published: pad, blur the whole map, keep the max, log, Taylor at the argmax."""
    out = coords.copy()
    b = (kernel - 1) // 2
    for i in range(hm.shape[0]):
        for j in range(hm.shape[1]):
            m = hm[i, j].astype(np.float64)
            padded = np.zeros((m.shape[0] + 2 * b, m.shape[1] + 2 * b))
            padded[b:-b, b:-b] = m
            blur = cv2.GaussianBlur(padded, (kernel, kernel), 0)[b:-b, b:-b]
            blur *= m.max() / blur.max()
            L = np.log(np.maximum(blur, 1e-10))
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            if 1 < px < m.shape[1] - 2 and 1 < py < m.shape[0] - 2:
                g = np.array([0.5 * (L[py, px + 1] - L[py, px - 1]), 0.5 * (L[py + 1, px] - L[py - 1, px])])
                dxx = 0.25 * (L[py, px + 2] - 2 * L[py, px] + L[py, px - 2])
                dyy = 0.25 * (L[py + 2, px] - 2 * L[py, px] + L[py - 2, px])
                dxy = 0.25 * (L[py + 1, px + 1] - L[py - 1, px + 1] - L[py + 1, px - 1] + L[py - 1, px - 1])
                hess = np.array([[dxx, dxy], [dxy, dyy]])
                if np.linalg.det(hess) != 0:
                    out[i, j] -= np.linalg.inv(hess) @ g
    return out


def test_dark_patch_equals_full_map_blur():
    rng = np.random.default_rng(3)
    hm = np.stack([[_gaussian(40, 30, *rng.uniform([-2, -2], [32, 42]), sigma=rng.uniform(1.5, 3))
                    for _ in range(6)] for _ in range(2)])
    hm += rng.uniform(0, 0.01, hm.shape).astype(np.float32)
    coords, _ = get_max_preds(hm)
    np.testing.assert_allclose(dark_refine(hm, coords), _dark_full_map(hm, coords), atol=1e-4)


def _flip_back_pairs(hm, pairs):
    out = hm[:, :, :, ::-1].copy()
    for a, b in pairs:
        out[:, [a, b]] = out[:, [b, a]]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_flip_back_is_an_involution_and_matches_pair_swaps(dtype):
    scheme = get_scheme("deepfashion2-agg81")
    hm = np.random.default_rng(2).random((3, scheme.num_keypoints, 8, 6)).astype(dtype)
    before = hm.copy()
    once = flip_back(hm, scheme.flip_pairs)
    np.testing.assert_array_equal(hm, before)                    # input untouched
    np.testing.assert_array_equal(once, _flip_back_pairs(hm, scheme.flip_pairs))
    np.testing.assert_array_equal(flip_back(once, scheme.flip_index), hm)
    assert once.flags.c_contiguous and once.dtype == dtype


def test_rescore_hand_computed():
    maxvals = np.array([[0.1, 0.5, 0.9], [0.1, 0.2, 0.05]])[:, :, None]
    boxes = np.array([0.8, 0.5])
    np.testing.assert_allclose(rescore(boxes, maxvals, 0.2), [0.8 * 0.7, 0.0])
    mask = np.array([[True, True, False], [True, True, True]])
    np.testing.assert_allclose(rescore(boxes, maxvals, 0.2, mask), [0.8 * 0.5, 0.0])
    np.testing.assert_allclose(rescore(boxes, maxvals, 0.0), [0.8 * 0.5, 0.5 * 0.35 / 3])


def test_flip_test_with_mmpose_one_way_table_follows_mmpose_rule():
    """mmpose's flip_heatmaps: mirror the width, take channel flip_indices[i] for channel i,
    shift right by one pixel; then the average with the plain output. With its non-involutive
    vest table, channel vest 9 and vest 13 both take the mirrored vest 13."""
    import torch

    from clothpose.core.function import predict_heatmaps

    scheme = get_scheme("deepfashion2-mmpose")
    table = scheme.flip_index.tolist()

    class Net(torch.nn.Module):  # output depends on the input, differently per channel
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 294, 3, padding=1)

        def forward(self, x):
            return self.conv(x[:, :, ::4, ::4])

    torch.manual_seed(0)
    net = Net().eval()
    x = torch.randn(2, 3, 32, 24)
    with torch.no_grad():
        plain, mirrored = net(x).numpy(), net(torch.flip(x, dims=[3])).numpy()
    back = mirrored[:, :, :, ::-1][:, table]
    back[..., 1:] = back[..., :-1].copy()
    want = (plain + back) * 0.5
    got = predict_heatmaps(net, x, flip_index=scheme.flip_index, shift_heatmap=True)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    vest9, vest13 = 128 + 8, 128 + 12                  # vest starts at channel 128
    np.testing.assert_allclose(got[:, vest9] - plain[:, vest9] * 0.5,
                               got[:, vest13] - plain[:, vest13] * 0.5, atol=1e-6)
