"""Heatmap targets: equal to a straightforward per-joint HRNet loop; UDP peak at the sub-pixel point."""
import numpy as np
import pytest

from clothpose.data.targets import gaussian_targets, udp_targets


def reference_targets(joints, vis, image_size, heatmap_size, sigma):
    """HRNet's generate_target definition, one joint at a time."""
    w, h = heatmap_size
    k = len(joints)
    weight = np.asarray(vis, np.float32).reshape(k, 1).copy()
    target = np.zeros((k, h, w), np.float32)
    stride = np.asarray(image_size, float) / np.asarray(heatmap_size, float)
    tmp = sigma * 3
    for j in range(k):
        mx = int(joints[j][0] / stride[0] + 0.5)
        my = int(joints[j][1] / stride[1] + 0.5)
        ul = [int(mx - tmp), int(my - tmp)]
        br = [int(mx + tmp + 1), int(my + tmp + 1)]
        if ul[0] >= w or ul[1] >= h or br[0] < 0 or br[1] < 0:
            weight[j] = 0
            continue
        size = 2 * tmp + 1
        x = np.arange(0, size, 1, np.float32)
        y = x[:, None]
        x0 = y0 = size // 2
        g = np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / (2 * sigma ** 2))
        gx = max(0, -ul[0]), min(br[0], w) - ul[0]
        gy = max(0, -ul[1]), min(br[1], h) - ul[1]
        ix = max(0, ul[0]), min(br[0], w)
        iy = max(0, ul[1]), min(br[1], h)
        if weight[j] > 0.5:
            target[j][iy[0]:iy[1], ix[0]:ix[1]] = g[gy[0]:gy[1], gx[0]:gx[1]]
    return target, weight


@pytest.mark.parametrize("sigma", [2.0, 3.0, 1.5])
def test_equals_reference_on_random_inputs(sigma):
    rng = np.random.default_rng(int(sigma * 10))
    for _ in range(20):
        k = 81
        joints = rng.uniform(-80, 600, (k, 2))           # inside, on the border and outside
        vis = (rng.random(k) < 0.7).astype(np.float32)
        got_t, got_w = gaussian_targets(joints, vis, (384, 512), (96, 128), sigma)
        ref_t, ref_w = reference_targets(joints, vis, (384, 512), (96, 128), sigma)
        assert got_t.dtype == np.float32 and got_t.shape == (k, 128, 96)
        np.testing.assert_array_equal(got_t, ref_t)
        np.testing.assert_array_equal(got_w, ref_w)


def test_hand_computed_values():
    # stride 4: joint at (41, 22) -> mu = (int(10.75), int(6.0)) = (10, 6)
    t, w = gaussian_targets(np.array([[41.0, 22.0], [-100.0, 5.0]]), np.array([1, 1]),
                            (64, 64), (16, 16), 2.0)
    assert t[0, 6, 10] == 1.0
    assert t[0, 6, 11] == pytest.approx(np.exp(-1 / 8), rel=1e-6)
    assert t[0, 8, 9] == pytest.approx(np.exp(-5 / 8), rel=1e-6)
    assert w[:, 0].tolist() == [1.0, 0.0]               # window entirely left of the map
    assert not t[1].any()


def test_udp_peak_is_subpixel():
    # UDP stride (64-1)/(16-1) = 4.2: x = 42 -> 10.0, y = 23.1 -> 5.5 (between rows 5 and 6)
    t, w = udp_targets(np.array([[42.0, 23.1]]), np.array([1]), (64, 64), (16, 16), 2.0)
    assert w[0, 0] == 1
    assert t[0, 5, 10] == pytest.approx(t[0, 6, 10], rel=1e-5)
    assert t[0, 5, 10] == pytest.approx(np.exp(-0.25 / 8), rel=1e-5)
    assert t[0, 5, 9] == pytest.approx(t[0, 5, 11], rel=1e-5)
