"""UDP end to end and DARK's kernel (issue 12, items 5 and 6).

Independent facts: mmpose's UDP definitions (``get_udp_warp_matrix``: the box edges map onto
pixel centres 0 and w - 1, each axis scaled by (w - 1) / box size; ``UDPHeatmap``: heatmap =
input * (W - 1) / (w - 1), decoded back with the same ratio), its DARK kernel table (17 for
sigma 3, 11 for 2, 7 for 1.5, 3 for 1), and encode -> decode round trips, which must return the
point the encoder put the Gaussian on.
"""
from __future__ import annotations

import numpy as np
import pytest

from clothpose.config import ConfigError, load_config
from clothpose.core.inference import dark_kernel_size, get_final_preds
from clothpose.core.testing import make_decoder
from clothpose.data import build_dataset
from clothpose.data.augment import crop_matrix
from clothpose.data.targets import gaussian_targets, udp_targets
from clothpose.utils.transforms import (PIXEL_STD, affine_transform_points, box_to_center_scale,
                                        flip_back, get_affine_transform,
                                        get_udp_affine_transform)

IMAGE, HEAT = (384, 512), (96, 128)          # the recipe's input and heatmap sizes (w, h)


def _cfg(*opts):
    return load_config(None, ["MODEL.IMAGE_SIZE", str(list(IMAGE)), "MODEL.HEATMAP_SIZE",
                              str(list(HEAT)), *opts])


def test_udp_warp_is_mmpose_at_rotation_zero():
    c, s = np.array([300.0, 250.0]), np.array([1.7, 2.4])       # box 340 x 480 px
    m = get_udp_affine_transform(c, s, 0.0, IMAGE)
    bw, bh = s * PIXEL_STD
    sx, sy = (IMAGE[0] - 1) / bw, (IMAGE[1] - 1) / bh
    # mmpose get_udp_warp_matrix with rot 0, written out: [[sx, 0, sx (-cx + bw/2)], ...]
    expected = np.array([[sx, 0, sx * (-c[0] + 0.5 * bw)], [0, sy, sy * (-c[1] + 0.5 * bh)]])
    np.testing.assert_allclose(m, expected, rtol=1e-12)
    corners = np.array([[c[0] - bw / 2, c[1] - bh / 2], [c[0] + bw / 2, c[1] + bh / 2]])
    np.testing.assert_allclose(affine_transform_points(corners, m),
                               [[0, 0], [IMAGE[0] - 1, IMAGE[1] - 1]], atol=1e-9)


def test_udp_warp_rotates_like_hrnet():
    """Same turning direction as HRNet's warp (square sizes: the linear parts are equal up to
    the scale factor)."""
    c, s = np.array([100.0, 120.0]), np.array([1.0, 1.0])
    for rot in (17.0, -40.0):
        u = get_udp_affine_transform(c, s, rot, (64, 64))[:, :2]
        h = get_affine_transform(c, s, rot, (64, 64))[:, :2]
        np.testing.assert_allclose(u / (63 / 200), h / (64 / 200), atol=1e-6)


def _round_trip(cfg, points, box=(40.0, 60.0, 300.0, 420.0)):
    """Image points -> configured crop -> configured targets -> configured decoder."""
    center, scale = box_to_center_scale(box, IMAGE[0] / IMAGE[1])
    m = crop_matrix(center, scale, 0.0, IMAGE, udp=cfg.DATASET.USE_UDP)
    joints = affine_transform_points(points, m)
    encode = udp_targets if cfg.DATASET.USE_UDP else gaussian_targets
    target, weight = encode(joints, np.ones(len(points)), IMAGE, HEAT, cfg.MODEL.SIGMA)
    assert weight.all()
    xy, _ = make_decoder(cfg)(target[None], center[None], scale[None])
    return xy[0], joints, center, scale


def _points(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(80, 300, n), rng.uniform(110, 440, n)])


@pytest.mark.parametrize("sigma", [2.0, 3.0])
def test_udp_round_trip_with_dark_is_sub_tenth_pixel(sigma):
    cfg = _cfg("DATASET.USE_UDP", "True", "MODEL.SIGMA", str(sigma),
               "TEST.POST_PROCESS_DARK", "True")
    pts = _points()
    xy, *_ = _round_trip(cfg, pts)
    assert np.abs(xy - pts).max() < 0.1


@pytest.mark.parametrize("udp", [False, True])
@pytest.mark.parametrize("decoder", [[], ["TEST.POST_PROCESS", "True"],
                                     ["TEST.POST_PROCESS_DARK", "True"],
                                     ["TEST.BLUR_KERNEL", "5"],
                                     ["TEST.BLUR_KERNEL", "5", "TEST.POST_PROCESS_DARK", "True"],
                                     ["TEST.SECOND_MAX_OFFSET", "True"]])
def test_round_trip_every_encoding_through_the_configured_decoder(udp, decoder):
    """The decoder returns the point the encoder drew: UDP draws a sub-pixel Gaussian; HRNet's
    encoder draws it on the nearest heatmap pixel (int(x / stride + 0.5)), so that pixel mapped
    back is the fact to compare with. Argmax decoders are within half a heatmap pixel of it,
    DARK within 0.1 image px."""
    cfg = _cfg("DATASET.USE_UDP", str(udp), "MODEL.SIGMA", "3", *decoder)
    pts = _points(seed=1)
    xy, joints, center, scale = _round_trip(cfg, pts)
    stride = IMAGE[0] / HEAT[0]
    if udp:
        drawn = pts
    else:
        grid = (joints / stride + 0.5).astype(np.int64) * stride     # the encoder's pixel
        inv = get_affine_transform(center, scale, 0.0, IMAGE, inv=True)
        drawn = affine_transform_points(grid, inv)
    err = np.abs(xy - drawn).max()
    dark = cfg.TEST.POST_PROCESS_DARK and not cfg.TEST.SECOND_MAX_OFFSET
    box_px = scale[0] * PIXEL_STD / (HEAT[0] - 1 if udp else HEAT[0])   # image px per hm px
    assert err < (0.1 if dark else 0.5 * box_px + 1e-6), err


def test_hrnet_decoding_of_udp_targets_is_the_biased_mix():
    """The old behaviour for reference: UDP targets decoded with HRNet's back-projection are
    off by the (in - 1) / (out - 1) vs in / out stride mismatch (several pixels)."""
    pts = _points()
    center, scale = box_to_center_scale((40.0, 60.0, 300.0, 420.0), IMAGE[0] / IMAGE[1])
    joints = affine_transform_points(pts, crop_matrix(center, scale, 0.0, IMAGE, udp=True))
    target, _ = udp_targets(joints, np.ones(len(pts)), IMAGE, HEAT, 3.0)
    hr, _ = get_final_preds(target[None], center[None], scale[None], dark=True, blur_kernel=17)
    assert np.abs(hr[0] - pts).max() > 1.0


def test_udp_flip_test_is_exact_without_heatmap_shift():
    """Mirroring the input (x -> w - 1 - x) mirrors a UDP heatmap exactly (x -> W - 1 - x), so
    flip-back needs no shift; the configuration refuses SHIFT_HEATMAP with UDP."""
    cfg = _cfg("DATASET.USE_UDP", "True", "MODEL.SIGMA", "2", "TEST.POST_PROCESS_DARK", "True")
    pts = _points(8, seed=2)
    center, scale = box_to_center_scale((40.0, 60.0, 300.0, 420.0), IMAGE[0] / IMAGE[1])
    joints = affine_transform_points(pts, crop_matrix(center, scale, 0.0, IMAGE, udp=True))
    mirrored = np.column_stack([IMAGE[0] - 1 - joints[:, 0], joints[:, 1]])
    t_mirror, _ = udp_targets(mirrored, np.ones(len(pts)), IMAGE, HEAT, 2.0)
    back = flip_back(t_mirror[None], np.arange(len(pts)))
    xy, _ = make_decoder(cfg)(back, center[None], scale[None])
    assert np.abs(xy[0] - pts).max() < 0.1
    with pytest.raises(ConfigError, match="SHIFT_HEATMAP"):
        _cfg("DATASET.USE_UDP", "True", "TEST.SHIFT_HEATMAP", "True")


@pytest.mark.parametrize("udp", [False, True])
def test_dataset_samples_decode_back_to_their_annotations(synthetic_df2, udp):
    """End to end through the dataset: the crop and targets of each sample, decoded with the
    configured decoder and the sample's centre/scale, give the annotated image points."""
    cfg = load_config(None, ["DATASET.ROOT", str(synthetic_df2.root), "MODEL.IMAGE_SIZE",
                             "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]", "MODEL.SIGMA", "2",
                             "TEST.USE_GT_BBOX", "True", "DATASET.USE_UDP", str(udp),
                             "TEST.POST_PROCESS_DARK", "True"])
    ds = build_dataset(cfg, "validation", is_train=False)
    decode = make_decoder(cfg)
    worst, n = 0.0, 0
    for i in range(len(ds)):
        _, target, weight, meta = ds.prepared(i)
        m = crop_matrix(meta["center"], meta["scale"], 0.0, (24, 32), udp=udp)  # -> heatmap
        inside = affine_transform_points(meta["joints"][:, :2], m)
        margin = 3 * 2.0 + 2                      # the whole Gaussian window is in the map
        ok = (weight.numpy()[:, 0] > 0) & (inside >= margin).all(axis=1) & \
            (inside[:, 0] <= 23 - margin) & (inside[:, 1] <= 31 - margin)
        n += int(ok.sum())
        if not ok.any():
            continue
        xy, _ = decode(target.numpy()[None], meta["center"][None], meta["scale"][None])
        err = np.abs(xy[0][ok] - meta["joints"][ok, :2]).max(axis=1)
        if udp:
            worst = max(worst, float(err.max()))
        else:   # HRNet encodes on the nearest heatmap pixel: within half a pixel of the box
            half = 0.5 * meta["scale"][0] * PIXEL_STD / 24
            assert (err <= half + 1e-3).all()
    assert n > 20
    if udp:
        assert worst < 0.1


def test_dark_kernel_follows_sigma_like_mmpose():
    assert [dark_kernel_size(s) for s in (3, 2, 1.5, 1)] == [17, 11, 7, 3]
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:32, 0:24]
    hm = np.exp(-((xx - 11.3) ** 2 + (yy - 15.6) ** 2) / (2 * 3.0 ** 2))[None, None]
    hm = (hm + 0.05 * rng.random(hm.shape)).astype(np.float32)
    c, s = np.array([[50.0, 60.0]]), np.array([[0.6, 0.8]])
    cfg = load_config(None, ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]",
                             "MODEL.SIGMA", "3", "TEST.POST_PROCESS_DARK", "True"])
    got = make_decoder(cfg)(hm, c, s)[0]
    np.testing.assert_array_equal(got, get_final_preds(hm, c, s, dark=True, blur_kernel=17)[0])
    assert np.abs(got - get_final_preds(hm, c, s, dark=True, blur_kernel=11)[0]).max() > 1e-3
    pinned = load_config(None, ["MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE",
                                "[24, 32]", "MODEL.SIGMA", "3", "TEST.POST_PROCESS_DARK", "True",
                                "TEST.DARK_KERNEL", "11"])
    np.testing.assert_array_equal(make_decoder(pinned)(hm, c, s)[0],
                                  get_final_preds(hm, c, s, dark=True, blur_kernel=11)[0])
