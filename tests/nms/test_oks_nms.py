"""OKS-NMS: Cython and NumPy agree; hand-made cases; HRNet's OKS definition."""
from __future__ import annotations

import logging

import numpy as np
import pytest

import clothpose.nms.suppression as nms_mod
from clothpose.keypoints import get_scheme
from clothpose.nms import oks_nms, oks_nms_numpy, oks_to_others, soft_oks_nms, soft_oks_nms_numpy

SIGMAS = get_scheme("deepfashion2").sigmas


def _random_case(rng, n=60, k=294, spread=6.0):
    centers = rng.uniform(0, 200, (n // 4, 1, 2))
    base = rng.uniform(-50, 50, (n // 4, k, 2)) + centers
    pick = rng.integers(0, n // 4, n)
    kpts = np.empty((n, k, 3))
    kpts[:, :, :2] = base[pick] + rng.normal(size=(n, k, 2)) * rng.uniform(0.2, spread, (n, 1, 1))
    kpts[:, :, 2] = rng.uniform(0, 1, (n, k))
    return kpts, rng.uniform(0, 1, n), rng.uniform(2000, 20000, n)


def test_extension_is_built():
    assert nms_mod._extension() is not None, "run `make install` to build cpu_nms"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("vis", [None, 0.3])
def test_cython_equals_numpy(seed, vis):
    rng = np.random.default_rng(seed)
    kpts, scores, areas = _random_case(rng)
    for thresh in (0.3, 0.6, 0.9):
        a = oks_nms(kpts, scores, areas, thresh, SIGMAS, vis)
        b = oks_nms_numpy(kpts, scores, areas, thresh, SIGMAS, vis)
        np.testing.assert_array_equal(a, b)
        assert 1 < len(a) < len(scores)       # the case really suppresses something
    s1 = soft_oks_nms(kpts, scores, areas, 0.3, SIGMAS, vis, max_dets=20)
    s2 = soft_oks_nms_numpy(kpts, scores, areas, 0.3, SIGMAS, vis, max_dets=20)
    np.testing.assert_array_equal(s1, s2)
    assert len(s1) == 20 and len(set(s1.tolist())) == 20


def test_identical_instances_keep_one_far_apart_keep_both():
    k = len(SIGMAS)
    one = np.concatenate([np.random.default_rng(0).uniform(0, 100, (k, 2)), np.ones((k, 1))], 1)
    same = np.stack([one, one])
    far = np.stack([one, one + [1000.0, 0, 0]])
    scores, areas = np.array([0.5, 0.9]), np.array([5000.0, 5000.0])
    for fn in (oks_nms, oks_nms_numpy):
        assert fn(same, scores, areas, 0.9, SIGMAS).tolist() == [1]
        assert fn(far, scores, areas, 0.9, SIGMAS).tolist() == [1, 0]
    # soft: identical -> the second score becomes s * exp(-1 / sigma) but both are kept, best first
    assert soft_oks_nms(same, scores, areas, 0.3, SIGMAS).tolist() == [1, 0]


def test_oks_matches_hand_computation():
    """One keypoint at distance d, others identical: OKS = ((K-1) + exp(-e)) / K."""
    k = 3
    sig = np.array([0.05, 0.1, 0.2])
    kpts = np.zeros((2, k, 3))
    kpts[:, :, 2] = [[0.9, 0.9, 0.1], [0.9, 0.1, 0.9]]
    kpts[1, 0, 0] = 4.0
    areas = np.array([100.0, 300.0])
    e = 16.0 / (2 * 0.05) ** 2 / (200.0 + np.spacing(1)) / 2
    var = (sig * 2) ** 2
    assert oks_to_others(kpts, 0, np.array([1]), areas, var)[0] == pytest.approx((2 + np.exp(-e)) / 3)
    # with a visibility threshold only keypoint 0 is above it in both instances
    assert oks_to_others(kpts, 0, np.array([1]), areas, var, 0.5)[0] == pytest.approx(np.exp(-e))
    assert oks_to_others(kpts, 0, np.array([1]), areas, var, 0.95)[0] == 0.0


def test_sigmas_required_and_checked():
    kpts = np.zeros((2, 294, 3))
    with pytest.raises(TypeError):
        oks_nms(kpts, np.ones(2), np.ones(2), 0.9)           # no silent COCO default
    with pytest.raises(ValueError, match="17 sigmas given for 294 keypoints"):
        oks_nms(kpts, np.ones(2), np.ones(2), 0.9, np.ones(17))


def test_dispatch_uses_numpy_when_extension_missing(monkeypatch):
    monkeypatch.setattr(nms_mod, "_extension", lambda: None)
    rng = np.random.default_rng(1)
    kpts, scores, areas = _random_case(rng, n=12)
    expected = oks_nms_numpy(kpts, scores, areas, 0.5, SIGMAS)
    np.testing.assert_array_equal(oks_nms(kpts, scores, areas, 0.5, SIGMAS), expected)


def test_missing_extension_logs_warning(monkeypatch, caplog):
    import builtins
    real_import = builtins.__import__

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        if fromlist and "cpu_nms" in fromlist:
            raise ImportError("simulated missing extension")
        return real_import(name, globals, locals, fromlist, level)

    nms_mod._extension.cache_clear()
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with caplog.at_level(logging.WARNING, logger="clothpose.nms.suppression"):
        assert nms_mod._extension() is None
    assert "extension not available" in caplog.text
    monkeypatch.setattr(builtins, "__import__", real_import)
    nms_mod._extension.cache_clear()
    assert nms_mod._extension() is not None
