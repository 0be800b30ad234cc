"""Synthetic generator: mirrored garments carry mirrored labels; files follow the raw format."""
import json

import numpy as np
import pytest

from clothpose.data.synthetic import local_flip_index, make_synthetic, render_garment, template
from clothpose.keypoints import deepfashion2 as df2
from clothpose.keypoints import get_scheme

CATS = [c[0] for c in df2.CATEGORIES]


@pytest.mark.parametrize("cid", CATS)
def test_mirrored_garment_has_mirrored_labels(cid):
    scheme = get_scheme("deepfashion2")
    size = (160, 200)
    g = render_garment(np.random.default_rng(cid), cid, size, 0.6, mirror=False)
    m = render_garment(np.random.default_rng(cid), cid, size, 0.6, mirror=True)
    np.testing.assert_array_equal(m.layer, g.layer[:, ::-1])       # the image is mirrored
    # labels: put both into the 294 layout and mirror one through the scheme's flip_index
    slots = list(scheme.category(cid).slots)
    full_g = np.zeros((294, 2))
    full_g[slots] = g.points
    full_m = np.zeros((294, 2))
    full_m[slots] = m.points
    expect = full_g[scheme.flip_index]
    expect[slots, 0] = size[1] - 1 - expect[slots, 0]
    np.testing.assert_allclose(full_m[slots], expect[slots], atol=1e-9)


@pytest.mark.parametrize("cid", CATS)
def test_templates_put_the_first_member_of_a_pair_on_the_left(cid):
    t = template(cid)
    fi = local_flip_index(cid)
    placket_right_first = {3: {27, 28}, 4: {35, 36}}.get(cid, set())   # right placket first
    for a, b in df2.FLIP_PAIRS[cid]:
        left, right = (b, a) if a in placket_right_first else (a, b)
        assert t[left - 1, 0] < t[right - 1, 0], (cid, a, b)
        assert t[a - 1, 1] == pytest.approx(t[b - 1, 1])           # mirror pairs level
    np.testing.assert_allclose(t[fi, 0], 1 - t[:, 0])              # symmetric template


def test_raw_files_follow_the_format_and_are_deterministic(tmp_path):
    make_synthetic(tmp_path / "a", {"train": 3, "test": 1}, seed=3, size=(128, 128))
    make_synthetic(tmp_path / "b", {"train": 3, "test": 1}, seed=3, size=(128, 128))
    for n in range(1, 4):
        a = json.loads((tmp_path / "a/train/annos" / f"{n:06d}.json").read_text())
        b = json.loads((tmp_path / "b/train/annos" / f"{n:06d}.json").read_text())
        assert a == b
        assert a["source"] in ("shop", "user") and isinstance(a["pair_id"], int)
        items = [v for k, v in a.items() if k.startswith("item")]
        assert 1 <= len(items) <= 3
        for it in items:
            k = dict((c[0], c[3]) for c in df2.CATEGORIES)[it["category_id"]]
            assert it["category_name"] == df2.CATEGORIES[it["category_id"] - 1][2]
            lm = np.array(it["landmarks"]).reshape(-1, 3)
            assert lm.shape == (k, 3) and set(lm[:, 2]) <= {0, 1, 2}
            assert (lm[lm[:, 2] == 0, :2] == 0).all()                   # v=0 -> x=y=0
            x1, y1, x2, y2 = it["bounding_box"]
            assert 0 <= x1 <= x2 < 128 and 0 <= y1 <= y2 < 128
            for key in ("style", "occlusion", "scale", "viewpoint", "zoom_in", "segmentation"):
                assert key in it
    assert not (tmp_path / "a/test/annos").exists()
    dets = json.loads((tmp_path / "a/detections/train_detections.json").read_text())
    assert {"image_id", "category_id", "bbox", "score"} <= set(dets[0])


def test_occluded_landmarks_are_under_a_later_garment():
    from clothpose.data.synthetic.generate import _visibility
    size = (120, 120)
    back = render_garment(np.random.default_rng(1), 1, size, 0.6)
    front = render_garment(np.random.default_rng(1), 1, size, 0.6)   # same place: covers all
    kps = _visibility(back, [front], *size)
    inside = kps[:, 2] > 0
    assert inside.any() and (kps[inside, 2] == 1).all()
    assert (_visibility(back, [], *size)[inside, 2] == 2).all()


@pytest.mark.parametrize("cid", CATS)
def test_every_landmark_lies_on_a_drawn_curve(cid):
    """Landmarks are outline geometry: each one is a sample of the outer/inner ring or a strap,
    mirrored or not, and the curve is smooth through contour (non-corner) landmarks."""
    from clothpose.data.synthetic.templates import corners
    for mirror in (False, True):
        g = render_garment(np.random.default_rng(cid), cid, (200, 200), 0.6, mirror=mirror)
        for k, p in enumerate(g.points):
            d = [np.linalg.norm(c - p, axis=1) for c in g.contours]
            best = int(np.argmin([x.min() for x in d]))
            assert d[best].min() < 1e-6, (cid, k + 1)
        if not mirror:
            outer = g.contours[0]
            for j in set(range(1, len(g.points) + 1)) - corners(cid) - {4}:
                i = np.flatnonzero(np.linalg.norm(outer - g.points[j - 1], axis=1) < 1e-6)
                if len(i) != 1 or i[0] in (0, len(outer) - 1):
                    continue
                a, b = outer[i[0]] - outer[i[0] - 1], outer[i[0] + 1] - outer[i[0]]
                turn = np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                                    -1, 1)))
                assert turn < 12, (cid, j, turn)       # no kink where a contour landmark sits
