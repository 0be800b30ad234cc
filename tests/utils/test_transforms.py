"""Geometry helpers: hand-computed boxes, inverse maps, flips."""
import numpy as np

from clothpose.keypoints import get_scheme
from clothpose.utils.transforms import (affine_transform_points, box_to_center_scale, flip_back,
                                        flip_index_from_pairs, fliplr_keypoints,
                                        get_affine_transform, transform_preds)


def test_box_to_center_scale_hand_computed():
    # 100x50 box at (10, 20) into a 3:4 (w:h) input: height grows to 100/0.75 = 133.33
    c, s = box_to_center_scale([10, 20, 100, 50], aspect_ratio=0.75, padding=1.25)
    np.testing.assert_allclose(c, [60, 45])
    np.testing.assert_allclose(s, [100 / 200 * 1.25, (100 / 0.75) / 200 * 1.25], rtol=1e-6)


def test_affine_maps_box_onto_output_and_inverse_is_identity():
    center, scale = np.array([120.0, 80.0]), np.array([0.6, 0.8])  # 120 x 160 px box
    m = get_affine_transform(center, scale, 0, (96, 128))
    corners = np.array([[60.0, 0.0], [180.0, 160.0], [120.0, 80.0]])
    np.testing.assert_allclose(affine_transform_points(corners, m), [[0, 0], [96, 128], [48, 64]],
                               atol=1e-4)
    for rot in (0, 30, -45):
        fwd = get_affine_transform(center, scale, rot, (96, 128))
        inv = get_affine_transform(center, scale, rot, (96, 128), inv=True)
        pts = np.random.default_rng(rot + 50).uniform(0, 200, (10, 2))
        np.testing.assert_allclose(affine_transform_points(affine_transform_points(pts, fwd), inv),
                                   pts, atol=1e-3)
    # transform_preds on the heatmap grid (stride 4) returns image pixels
    np.testing.assert_allclose(transform_preds(np.array([[12.0, 16.0]]), center, scale, (24, 32)),
                               [[120, 80]], atol=1e-4)


def test_rotation_turns_points_about_the_centre():
    center, scale = np.array([100.0, 100.0]), np.array([1.0, 1.0])
    m = get_affine_transform(center, scale, 90, (200, 200))
    # a point above the centre goes to the side after a 90 degree rotation of the crop
    p = affine_transform_points(np.array([[100.0, 50.0]]), m)[0]
    assert abs(p[1] - 100) < 1e-3 and abs(abs(p[0] - 100) - 50) < 1e-3


def test_flip_back_twice_is_identity_and_matches_a_loop():
    s = get_scheme("deepfashion2-agg81")
    heat = np.random.default_rng(0).random((2, 81, 8, 6)).astype(np.float32)
    once = flip_back(heat, np.array(s.flip_pairs))
    np.testing.assert_array_equal(flip_back(once, s.flip_index), heat)
    ref = heat[:, :, :, ::-1].copy()
    for a, b in s.flip_pairs:
        ref[:, [a, b]] = ref[:, [b, a]]
    np.testing.assert_array_equal(once, ref)
    assert flip_index_from_pairs(4, [(0, 3)]).tolist() == [3, 1, 2, 0]


def test_fliplr_keypoints_twice_is_identity_and_keeps_unlabelled_zero():
    s = get_scheme("deepfashion2-cat1")
    kps = np.zeros((25, 3))
    kps[:10] = np.column_stack([np.arange(10) * 3.0, np.arange(10) + 5.0, np.full(10, 2.0)])
    once = fliplr_keypoints(kps, 64, s.flip_index)
    assert once[s.flip_index[0], 0] == 63 - kps[0, 0]
    assert np.all(once[kps[s.flip_index, 2] == 0] == 0)
    np.testing.assert_array_equal(fliplr_keypoints(once, 64, s.flip_index), kps)


def test_atomic_write_replaces_whole_files_with_the_usual_mode(tmp_path):
    import os

    from clothpose.utils.io import atomic_write, atomic_write_json
    path = tmp_path / "sub" / "r.json"
    atomic_write_json(path, {"a": np.float32(1.5), "b": np.arange(2)})
    assert path.read_text() == '{"a": 1.5, "b": [0, 1]}'
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
    try:
        atomic_write(path, lambda f: (f.write("partial"), 1 / 0))
    except ZeroDivisionError:
        pass
    assert path.read_text() == '{"a": 1.5, "b": [0, 1]}'   # old content intact, no temp left
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
