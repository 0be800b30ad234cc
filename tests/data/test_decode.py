"""Image decoding: DCT-domain reduced decoding keeps crops and keypoints aligned."""
import cv2
import numpy as np
import pytest
import torch

from clothpose.data import KeypointDataset
from clothpose.data.augment import AugmentParams
from clothpose.data.decode import decode, probe, reduced_matrix, reduction_factor
from clothpose.keypoints import get_scheme


def _similarity(zoom, deg):
    a = np.deg2rad(deg)
    return np.array([[zoom * np.cos(a), -zoom * np.sin(a), 3.0],
                     [zoom * np.sin(a), zoom * np.cos(a), -7.0]])


@pytest.mark.parametrize("zoom, factor", [(1.0, 1), (0.51, 1), (0.5, 2), (0.3, 2), (0.25, 4),
                                          (0.2, 4), (0.125, 8), (0.05, 8)])
def test_reduction_factor_by_hand(zoom, factor):
    for deg in (0.0, 37.0, -120.0):                  # rotation does not change the shrink
        assert reduction_factor(_similarity(zoom, deg)) == factor
    assert reduction_factor(_similarity(zoom, 0.0), max_factor=2) == min(factor, 2)
    assert reduction_factor(_similarity(zoom, 0.0), max_factor=1) == 1


def test_reduced_matrix_by_hand():
    # reduced pixel u is original x = 2 u + 0.5: identity -> [[2, 0, 0.5], [0, 2, 0.5]]
    np.testing.assert_allclose(reduced_matrix(np.eye(2, 3), 2), [[2, 0, 0.5], [0, 2, 0.5]])
    m = _similarity(0.2, 30.0)
    r = reduced_matrix(m, 4)
    for u, v in ((0.0, 0.0), (10.0, 3.0), (-2.5, 7.25)):
        x, y = 4 * u + 1.5, 4 * v + 1.5                       # the reduced pixel's centre
        np.testing.assert_allclose(r @ [u, v, 1.0], m @ [x, y, 1.0], atol=1e-12)
    np.testing.assert_array_equal(reduced_matrix(m, 1), m)            # factor 1: unchanged


def _blob_image(path, size=(960, 720)):
    """Grey image with smooth white Gaussian blobs at sub-pixel points; returns the points."""
    w, h = size
    pts = np.array([[300.3, 250.7], [420.6, 380.2], [350.1, 480.9], [520.8, 300.4],
                    [260.5, 420.5]])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full((h, w), 40.0)
    for x, y in pts:
        img += 200 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 6.0 ** 2))
    grey = np.clip(img, 0, 255).astype(np.uint8)
    cv2.imwrite(str(path), np.dstack([grey] * 3), [cv2.IMWRITE_JPEG_QUALITY, 95])
    return pts


def _centroid(crop, xy, r=5):
    g = crop.astype(np.float64).mean(axis=2)
    x0, y0 = int(round(xy[0])), int(round(xy[1]))
    win = g[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
    win = np.clip(win - np.percentile(win, 20), 0, None)
    ys, xs = np.mgrid[y0 - r:y0 + r + 1, x0 - r:x0 + r + 1]
    return np.array([(win * xs).sum() / win.sum(), (win * ys).sum() / win.sum()])


@pytest.mark.parametrize("box_width, factor", [(200, 2), (420, 4)])
def test_reduced_decoding_keeps_keypoints_on_their_blobs(tmp_path, box_width, factor):
    """Rotated and flipped crops of a JPEG decoded at 1/2 and 1/4 size: each blob's centroid in
    the crop sits on the shipped keypoint within 0.05 px, as with the full decode (forgetting
    the (f - 1) / 2 pixel-centre shift of the reduced image puts it 0.27 / 0.39 px off)."""
    path = tmp_path / "blobs.jpg"
    pts = _blob_image(path)
    scheme = get_scheme("deepfashion2-agg81")
    kps = np.zeros((scheme.num_keypoints, 3), np.float32)
    kps[[0, 4, 9, 20, 40], :2] = pts
    kps[[0, 4, 9, 20, 40], 2] = 1
    box = np.array([400 - box_width / 2, 360 - box_width / 0.75 / 2, box_width,
                    box_width / 0.75], np.float32)
    rec = {"image": str(path), "image_id": 1, "category_id": 1, "keypoints": kps, "box": box}
    aug = AugmentParams(scale_factor=0.0, rot_factor=30, rot_prob=1.0, flip=True)
    for reduced in (False, True):
        ds = KeypointDataset([rec], scheme, (96, 128), (24, 32), 2.0, True, aug,
                             reduced_decode=reduced)
        torch.manual_seed(0)
        checked, flips = 0, set()
        for _ in range(8):
            crop, shipped, meta = ds[0]
            assert meta["decode_factor"] == (factor if reduced else 1)
            flips.add(meta["flipped"])
            for x, y, v in shipped.numpy():
                if v > 0 and 8 < x < 88 and 8 < y < 120:
                    err = np.abs(_centroid(crop.numpy(), (x, y)) - (x, y)).max()
                    assert err < 0.05, (reduced, err)
                    checked += 1
        assert checked >= 20 and flips == {False, True}


def test_reduced_pixels_are_libjpeg_scaled_decodes(tmp_path):
    path = tmp_path / "blobs.jpg"
    _blob_image(path, (750, 601))                       # odd height: ceil(601 / f) rows
    enc = probe(str(path))
    assert enc.is_jpeg and enc.size == (750, 601) and not enc.truncated
    for f, flag in ((2, cv2.IMREAD_REDUCED_COLOR_2), (4, cv2.IMREAD_REDUCED_COLOR_4),
                    (8, cv2.IMREAD_REDUCED_COLOR_8)):
        img, used = decode(enc, f)
        assert used == f and img.shape == (-(-601 // f), -(-750 // f), 3)
        np.testing.assert_array_equal(img, cv2.imread(str(path), flag))


def test_other_formats_and_unreadable_files(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), img)
    enc = probe(str(tmp_path / "a.png"))
    assert not enc.is_jpeg
    got, used = decode(enc, 4)                              # PNG: always full size
    assert used == 1 and np.array_equal(got, img)
    assert probe(str(tmp_path / "missing.jpg")) is None
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    assert decode(probe(str(tmp_path / "bad.jpg")), 2)[0] is None
    _blob_image(tmp_path / "cut.jpg", (200, 160))
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) * 2 // 3])
    cut = probe(str(tmp_path / "cut.jpg"))
    assert cut.truncated and cut.size == (200, 160)
