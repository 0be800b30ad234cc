"""Augmentation geometry: flip composed into the crop matrix, peaks where the affine puts joints."""
import cv2
import numpy as np
import pytest

from clothpose.data import KeypointDataset
from clothpose.data.augment import AugmentParams, crop_matrix, to_input
from clothpose.keypoints import get_scheme
from clothpose.utils.transforms import affine_transform_points, get_affine_transform


def _h(m):
    return np.vstack([m, [0, 0, 1]])


def test_flip_matrix_equals_hrnet_flip_path():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    c, s = np.array([70.0, 55.0]), np.array([0.5, 0.6])
    m = crop_matrix(c, s, 17.0, (48, 64), flip_width=160)
    # HRNet: mirror the image, move the centre to W - 1 - cx, then crop
    hr = get_affine_transform(np.array([160 - 1 - 70.0, 55.0]), s, 17.0, (48, 64))
    ref = cv2.warpAffine(np.ascontiguousarray(img[:, ::-1]), hr, (48, 64), flags=cv2.INTER_LINEAR)
    got = cv2.warpAffine(img, m, (48, 64), flags=cv2.INTER_LINEAR)
    assert np.abs(got.astype(int) - ref.astype(int)).max() <= 1
    pts = rng.uniform(0, 150, (10, 2))
    mirrored = np.column_stack([160 - 1 - pts[:, 0], pts[:, 1]])
    np.testing.assert_allclose(affine_transform_points(pts, m),
                               affine_transform_points(mirrored, hr), atol=1e-6)


def test_flip_twice_is_identity():
    scheme = get_scheme("deepfashion2-agg81")
    fi = np.asarray(scheme.flip_index)
    np.testing.assert_array_equal(fi[fi], np.arange(scheme.num_keypoints))
    c, s = np.array([50.0, 40.0]), np.array([0.4, 0.4])
    flip_only = _h(crop_matrix(c, s, 0, (80, 80), 100)) @ np.linalg.inv(
        _h(crop_matrix(c, s, 0, (80, 80))))
    # input-space effect of the flip is itself a mirror: applying it twice gives the identity
    np.testing.assert_allclose(flip_only @ flip_only, np.eye(3), atol=1e-9)


def test_normalisation_matches_torchvision_definition():
    img = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    ref = ((img / 255.0 - mean) / std).transpose(2, 0, 1)
    np.testing.assert_allclose(to_input(img), ref, atol=1e-5)


def test_mmpose_preprocessor_equals_ours_with_its_experiment_file(tmp_path):
    """mmpose's PoseDataPreprocessor: BGR -> RGB, then (x - mean) / std on 0-255 with the values
    of its DeepFashion2 configs; ours: COLOR_RGB + DATASET.PIXEL_MEAN / PIXEL_STD."""
    from pathlib import Path

    from clothpose.config import load_config

    cfg = load_config(Path(__file__).parents[2] / "experiments/deepfashion2/"
                      "mmpose-res50_256x192-vest.yaml")
    assert cfg.DATASET.COLOR_RGB
    bgr = np.random.default_rng(1).integers(0, 256, (4, 5, 3), dtype=np.uint8)
    mean, std = np.array([123.675, 116.28, 103.53]), np.array([58.395, 57.12, 57.375])
    want = ((bgr[:, :, ::-1] - mean) / std).transpose(2, 0, 1)
    got = to_input(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), mean=cfg.DATASET.PIXEL_MEAN,
                   std=cfg.DATASET.PIXEL_STD)
    np.testing.assert_allclose(got, want, atol=1e-5)
    np.testing.assert_allclose(to_input(bgr, mean=[165.75] * 3, std=[63.75] * 3),
                               ((bgr / 255.0 - 0.65) / 0.25).transpose(2, 0, 1), atol=1e-5)


def _dot_dataset(tmp_path, augment, is_train=True):
    """One record: 3 agg81 joints, each drawn as a bright square of its own colour channel."""
    img = np.zeros((200, 240, 3), np.uint8)
    scheme = get_scheme("deepfashion2-agg81")
    kps = np.zeros((scheme.num_keypoints, 3), np.float32)
    pts = {1: (60.0, 50.0), 5: (150.0, 80.0), 40: (100.0, 150.0)}   # 0-based channels
    for ch, (x, y) in pts.items():
        kps[ch] = (x, y, 1)
        cv2.rectangle(img, (int(x) - 2, int(y) - 2), (int(x) + 2, int(y) + 2), (255, 255, 255), -1)
    path = tmp_path / "dots.png"
    cv2.imwrite(str(path), img)
    rec = {"image": str(path), "image_id": 1, "category_id": 1, "keypoints": kps,
           "box": np.array([40.0, 30.0, 140.0, 140.0], np.float32), "score": 1.0}
    return KeypointDataset([rec], scheme, (96, 128), (24, 32), 2.0, is_train, augment), pts


@pytest.mark.parametrize("flip", [False, True])
def test_heatmap_peak_lands_where_the_affine_puts_the_joint(tmp_path, flip):
    aug = AugmentParams(scale_factor=0.3, rot_factor=40, rot_prob=1.0, flip=flip)
    ds, pts = _dot_dataset(tmp_path, aug)
    fi = np.asarray(ds.scheme.flip_index)
    checked = 0
    for _ in range(10):
        inp, target, weight, meta = ds.prepared(0)
        m = crop_matrix(meta["center"], meta["scale"], meta["rotation"], (96, 128),
                        240 if meta["flipped"] else None)
        assert meta["flipped"] == (meta["flipped"] and flip)
        for ch, xy in pts.items():
            xy_in = affine_transform_points(np.array(xy), m)
            out_ch = fi[ch] if meta["flipped"] else ch
            hx, hy = xy_in / 4
            if not (0 <= hx < 24 and 0 <= hy < 32):
                continue                     # pushed out of the crop by scale/rotation
            assert weight[out_ch, 0] == 1
            peak = np.unravel_index(int(target[out_ch].argmax()), target[out_ch].shape)
            assert abs(peak[1] - hx) <= 1 and abs(peak[0] - hy) <= 1
            checked += 1
            # the drawn square moved to the same place in the input crop
            yy, xx = int(round(xy_in[1])), int(round(xy_in[0]))
            if 2 <= xx < 94 and 2 <= yy < 126:
                assert inp[:, yy - 1:yy + 2, xx - 1:xx + 2].max() > 1.5
        others = np.setdiff1d(np.arange(81), [fi[c] if meta["flipped"] else c for c in pts])
        assert not weight[others].any()
    assert checked >= 10


def test_no_augmentation_at_test_time(tmp_path):
    ds, _ = _dot_dataset(tmp_path, AugmentParams(flip=True, rot_prob=1.0), is_train=False)
    meta = ds[0][2]
    assert meta["rotation"] == 0 and not meta["flipped"]
    np.testing.assert_allclose(meta["center"], [110.0, 100.0])
    # box 140x140 widened to aspect 96/128 -> 140 x 186.67, times 1.25, in units of 200 px
    np.testing.assert_allclose(meta["scale"], [140 / 200 * 1.25, 140 / 0.75 / 200 * 1.25],
                               rtol=1e-6)
