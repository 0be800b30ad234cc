"""Keypoint schemes against independent facts (the official tables, the winner's 81-space pairs)."""
import json

import numpy as np
import pytest

from clothpose.keypoints import SchemeError, get_scheme, scheme_from_dict
from clothpose.keypoints.scheme import BUILTIN, load_scheme_file

# Facts from the DeepFashion2 docs (§4 offsets, §6.3 the winner's 37 aggregated flip pairs).
OFFSETS = [0, 25, 58, 89, 128, 143, 158, 168, 182, 190, 219, 256, 275]
AGG_PAIRS_1BASED = [(2, 6), (3, 5), (7, 8), (9, 20), (10, 19), (11, 18), (12, 17), (13, 16), (14, 15),
                    (21, 40), (22, 39), (23, 38), (24, 37), (25, 36), (26, 35), (27, 34), (28, 33),
                    (29, 32), (30, 31), (41, 46), (42, 45), (43, 44), (48, 51), (49, 52), (50, 53),
                    (54, 55), (56, 57), (58, 62), (59, 61), (63, 65), (66, 69), (67, 68), (71, 72),
                    (73, 76), (74, 75), (77, 81), (78, 80)]
AGG_FIXED_1BASED = [1, 4, 47, 60, 64, 70, 79]

# deepfashion2-mmpose copies mmpose's flip table, which is not an involution (tested below).
ALL = [n for n in BUILTIN if n != "deepfashion2-mmpose"] + [
    "deepfashion2-cat3", "deepfashion2-agg81-cat11", "fashionai-dress"]


@pytest.mark.parametrize("name", ALL)
def test_flip_index_is_an_involution(name):
    s = get_scheme(name)
    idx = s.flip_index
    assert sorted(idx.tolist()) == list(range(s.num_keypoints))
    np.testing.assert_array_equal(idx[idx], np.arange(s.num_keypoints))
    assert len(s.sigmas) == s.num_keypoints


@pytest.mark.parametrize("name", ALL)
def test_category_pairs_map_onto_scheme_pairs_and_axis_points_are_fixed(name):
    s = get_scheme(name)
    for c in s.categories:
        paired = set()
        for a, b in c.flip_pairs:
            assert s.flip_index[c.slots[a]] == c.slots[b], (c.name, a + 1, b + 1)
            paired |= {a, b}
        for j in set(range(c.num_keypoints)) - paired:
            assert s.flip_index[c.slots[j]] == c.slots[j], (c.name, j + 1)


def test_agg81_pairs_equal_the_winning_solution():
    s = get_scheme("deepfashion2-agg81")
    assert sorted((a + 1, b + 1) for a, b in s.flip_pairs) == AGG_PAIRS_1BASED
    fixed = [i + 1 for i in range(81) if s.flip_index[i] == i]
    assert fixed == AGG_FIXED_1BASED


def test_294_layout_offsets_and_counts():
    s = get_scheme("deepfashion2")
    assert s.num_keypoints == 294
    assert [c.slots[0] for c in s.categories] == OFFSETS
    assert [c.num_keypoints for c in s.categories] == [25, 33, 31, 39, 15, 15, 10, 14, 8, 29, 37, 19, 19]
    assert len(s.flip_pairs) == 131


def test_official_sigmas_spot_check():
    sig = get_scheme("deepfashion2").sigmas
    # first of sss, trousers kp1/kp4, skirt kp5, lsd kp15 and kp29, last of sling_dress
    assert sig[0] == 0.012 and sig[168] == 0.0275 and sig[171] == 0.0651 and sig[186] == 0.0543
    assert sig[219 + 14] == 0.0455 and sig[219 + 28] == 0.0486 and sig[293] == 0.0173
    # block and table sums computed from the published list (docs, §5), not from this module
    assert np.isclose(sig[58:89].sum(), 0.851) and np.isclose(sig.sum(), 11.519)


def test_default_sso_pairing_makes_all_mirror_sigmas_equal_but_lsd_15_29():
    s = get_scheme("deepfashion2")
    unequal = [(s.keypoint_names[a], s.keypoint_names[b]) for a, b in s.flip_pairs
               if s.sigmas[a] != s.sigmas[b]]
    assert unequal == [("long_sleeved_dress_15", "long_sleeved_dress_29")]
    fig = get_scheme("deepfashion2-figure")
    sso = fig.category(3)
    assert (1, 25) in sso.flip_pairs and (3, 5) in sso.flip_pairs  # figure: 2-26 and 4-6


def test_vest_and_sling_dress_have_9_17():
    s = get_scheme("deepfashion2")
    for cid in (12, 13):
        assert (8, 16) in s.category(cid).flip_pairs


def test_figure_variant_in_agg81_moves_sso_corner_ids():
    s = get_scheme("deepfashion2-agg81-figure")
    sso = s.category(3)
    assert sso.slots[3] == 1 and sso.slots[1] == 6  # sso4 -> agg2, sso2 -> agg7 (0-based 1 and 6)
    lso = s.category(4)
    assert lso.slots[1] == 1 and lso.slots[3] == 6  # lso unchanged


@pytest.mark.parametrize("variant", ["deepfashion2-agg81", "deepfashion2-agg81-figure"])
def test_294_to_81_to_294_keeps_every_labelled_keypoint(variant):
    full, agg = get_scheme("deepfashion2"), get_scheme(variant)
    rng = np.random.default_rng(0)
    for c in full.categories:
        kps = np.zeros((4, 294, 3))
        block = list(c.slots)
        kps[:, block, :2] = rng.uniform(1, 500, (4, len(block), 2))
        kps[:, block, 2] = rng.integers(0, 3, (4, len(block)))
        cats = np.full(4, c.id)
        back = agg.convert(full.convert(kps, cats, agg), cats, full)
        np.testing.assert_array_equal(back, kps)
        # distinct aggregated ids within a category: the 81 vector holds as many labels as the 294
        assert len(set(agg.category(c.id).slots)) == c.num_keypoints
        assert (full.convert(kps, cats, agg)[..., 2] > 0).sum() == (kps[..., 2] > 0).sum()


def test_convert_rejects_wrong_shapes_and_families():
    s = get_scheme("deepfashion2")
    with pytest.raises(ValueError, match="294"):
        s.convert(np.zeros((1, 81, 3)), [1], get_scheme("deepfashion2-agg81"))
    with pytest.raises(SchemeError, match="famil"):
        s.convert(np.zeros((1, 294, 3)), [1], get_scheme("fashionai"))


def test_subset_and_fashionai_schemes():
    sub = get_scheme("deepfashion2-cat8")
    assert sub.num_keypoints == 14 and sub.category_ids == (8,)
    np.testing.assert_array_equal(sub.sigmas, get_scheme("deepfashion2").sigmas[168:182])
    kps = np.arange(294 * 3, dtype=float).reshape(1, 294, 3)
    np.testing.assert_array_equal(get_scheme("deepfashion2").convert(kps, [8], sub)[0], kps[0, 168:182])
    fai = get_scheme("fashionai")
    assert fai.num_keypoints == 24 and len(fai.flip_pairs) == 11
    assert [c.num_keypoints for c in fai.categories] == [13, 14, 7, 4, 15]
    assert get_scheme("fashionai-skirt").keypoint_names == (
        "waistband_left", "waistband_right", "hemline_left", "hemline_right")


def test_user_scheme_file_roundtrip_and_validation(tmp_path):
    spec = {"name": "toy", "keypoints": ["l", "r", "c", "hl", "hr"], "sigmas": [0.03] * 5,
            "flip_pairs": [["l", "r"], ["hl", "hr"]], "skeleton": [["l", "c"], ["c", "r"]],
            "categories": [{"id": 1, "name": "top", "keypoints": ["l", "r", "c"]},
                           {"id": 2, "name": "bottom", "keypoints": ["hl", "hr"]}]}
    path = tmp_path / "toy.json"
    path.write_text(json.dumps(spec))
    s = get_scheme(str(path))
    assert s.flip_index.tolist() == [1, 0, 2, 4, 3]
    assert s.category(1).skeleton == ((0, 2), (2, 1))
    bad = dict(spec, categories=[{"id": 1, "keypoints": ["l", "c"]}])  # pair split across categories
    with pytest.raises(SchemeError, match="only one member"):
        scheme_from_dict(bad)
    (tmp_path / "bad.yaml").write_text("keypoints: [a, b]\nsigmas: [0.1]\n")
    with pytest.raises(SchemeError, match="bad.yaml.*sigmas"):
        load_scheme_file(tmp_path / "bad.yaml")


def test_conflicting_pairs_are_rejected():
    spec = {"keypoints": ["a", "b", "c"], "sigmas": [0.1] * 3,
            "categories": [{"id": 1, "keypoints": ["a", "b"]}, {"id": 2, "keypoints": ["a", "c"]}]}
    # a<->b in category 1 but a<->c in category 2: no single involution exists.
    from clothpose.keypoints.scheme import Category, make_scheme
    with pytest.raises(SchemeError, match="mirrors channel 0"):
        make_scheme("x", "x", ["a", "b", "c"], [0.1] * 3,
                    [Category(1, "one", (0, 1), ((0, 1),)), Category(2, "two", (0, 2), ((0, 1),))])
    with pytest.raises(SchemeError, match="symmetry axis"):
        make_scheme("x", "x", ["a", "b"], [0.1] * 2,
                    [Category(1, "one", (0, 1), ((0, 1),)), Category(2, "two", (0,), ())])
    assert spec  # the dict form is exercised in the previous test


def test_unknown_scheme_name_lists_builtins():
    with pytest.raises(KeyError, match="deepfashion2-agg81"):
        get_scheme("nope")


def test_mmpose_flip_table_differs_from_ours_exactly_where_its_metadata_does():
    """Facts read off mmpose's configs/_base_/datasets/deepfashion2.py (``swap`` fields):
    sso pairs 2-26 and 4-6 (the figure's), and vest_kpt9 swaps with vest_kpt13 while vest_kpt13
    names no partner; every other channel flips as in our default scheme."""
    mm, ours = get_scheme("deepfashion2-mmpose"), get_scheme("deepfashion2")
    sso, vest = OFFSETS[2], OFFSETS[4]
    expected = ours.flip_index.copy()
    expected[[sso + 1, sso + 25, sso + 3, sso + 5]] = [sso + 25, sso + 1, sso + 5, sso + 3]
    expected[vest + 12] = vest + 12                      # vest 13 -> itself
    np.testing.assert_array_equal(mm.flip_index, expected)
    assert mm.flip_index[vest + 8] == vest + 12          # vest 9 -> vest 13, one way
    assert sorted(mm.flip_index.tolist()) != list(range(294))  # 140 twice, 136 never
    assert np.array_equal(mm.sigmas, ours.sigmas) and mm.keypoint_names == ours.keypoint_names
    assert (8, 12) not in mm.category(5).flip_pairs and (8, 12) in ours.category(5).flip_pairs


def test_mmpose_scheme_has_no_category_subsets():
    with pytest.raises(KeyError, match="unknown keypoint scheme"):
        get_scheme("deepfashion2-mmpose-cat5")
