"""Synthetic FashionAI release: layout, CSV semantics, keypoint mapping, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from clothpose.data.fashionai_csv import read_annotations, read_image_size, read_test_list
from clothpose.data.synthetic.templates import template
from clothpose.data.synthetic_fashionai import (SOURCES, landmark_map, make_fashionai_image,
                                                make_synthetic_fashionai)
from clothpose.keypoints import fashionai as fai
from clothpose.keypoints import get_scheme

FULL = get_scheme("fashionai")
INDEX = {n: i for i, n in enumerate(fai.KEYPOINTS)}


def test_release_layout_and_csvs(fashionai_release):
    root = fashionai_release
    train = read_annotations(root / "Annotations" / "train.csv")
    test = read_test_list(root / "test.csv")
    answers = read_annotations(root / "Annotations" / "test_answer.csv")
    assert (len(train), len(test)) == (10, 5)
    assert read_annotations(root / "Annotations" / "val.csv").image_ids[0] not in train.image_ids
    assert answers.image_ids == test.image_ids
    np.testing.assert_array_equal(answers.category_ids, test.category_ids)
    assert train.category_ids.tolist() == [1, 2, 3, 4, 5] * 2       # types in turn
    for image_id, name in zip(train.image_ids, train.category_names):
        assert image_id.startswith(f"Images/{name}/") and image_id.endswith(".jpg")
        w, h = read_image_size(root / image_id)
        assert h == 96 and w in (96, 72)


def test_visibility_semantics_and_type_masks(fashionai_release):
    t = read_annotations(fashionai_release / "Annotations" / "train.csv")
    v = t.keypoints[..., 2]
    own = np.stack([FULL.category_mask(int(c)) for c in t.category_ids])
    assert np.all(v[~own] == -1) and np.all(t.keypoints[~own][:, :2] == -1)
    assert set(np.unique(v[own])) <= {-1.0, 0.0, 1.0} and (v[own] == 1).mean() > 0.6
    xy = t.keypoints[..., :2]
    labelled = v >= 0
    assert np.all(xy[labelled] >= 0) and np.all(xy[labelled] <= 95)
    assert np.all(xy[~labelled] == -1)
    for n, name in enumerate(t.category_names):                 # normalizer pair in the frame
        assert np.all(v[n, [INDEX[k] for k in fai.NORMALIZER[name]]] >= 0)


def test_left_keypoints_are_image_left():
    """Official convention: 'left' is image-left, also for mirrored garments."""
    rng = np.random.default_rng(0)
    pairs = [(INDEX[a], INDEX[b]) for a, b in fai.flip_pairs_by_name()]
    left_smaller, total = 0, 0
    for n in range(40):
        name = fai.CATEGORIES[n % 5][1]
        _img, kps = make_fashionai_image(rng, name, (128, 128), occlude_prob=0.0)
        for a, b in pairs:
            if kps[a, 2] >= 0 and kps[b, 2] >= 0:
                total += 1
                left_smaller += kps[a, 0] <= kps[b, 0]
    assert total > 100 and left_smaller / total > 0.9


def test_landmark_map_uses_df2_flip_twins():
    lmap = landmark_map(2, SOURCES["blouse"][1][1])           # long sleeve top
    assert lmap[INDEX["armpit_left"]] == 15                     # DF2 landmark 16, 0-based
    t = template(2)
    # the right twin sits at the mirrored template position (x -> 1 - x, same y)
    np.testing.assert_allclose(t[lmap[INDEX["armpit_right"]]],
                               [1 - t[15, 0], t[15, 1]])
    assert set(np.flatnonzero(lmap >= 0)) == set(FULL.category(1).slots)
    for name, variants in SOURCES.items():                      # every type's keypoints mapped
        for cid, left in variants:
            got = set(np.flatnonzero(landmark_map(cid, left) >= 0))
            assert got == set(FULL.category(fai.CATEGORY_IDS[name]).slots), (name, cid)


def test_deterministic_for_a_seed(tmp_path):
    a = make_synthetic_fashionai(tmp_path / "a", train=3, test=0, seed=5, size=64)
    b = make_synthetic_fashionai(tmp_path / "b", train=3, test=0, seed=5, size=64)
    assert a["train"].read_text() == b["train"].read_text()
    with pytest.raises(ValueError, match="unknown clothing types"):
        make_synthetic_fashionai(tmp_path / "c", train=1, types=("jumpsuit",))
