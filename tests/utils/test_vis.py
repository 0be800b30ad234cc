"""Drawing helpers: pixels change where points and edges are, and only there."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from clothpose.keypoints import get_scheme
from clothpose.utils.vis import (PALETTE, category_color, category_grid, draw_instance,
                                 make_grid, save_png, side_by_side)

BLACK = np.zeros((120, 160, 3), np.uint8)


def skirt_points() -> np.ndarray:
    """Local skirt landmarks: waistband_left, waistband_right, hemline_left, hemline_right."""
    return np.array([[40, 20, 0.9], [120, 20, 0.9], [30, 100, 0.9], [130, 100, 0.9]])


def changed(a: np.ndarray, b: np.ndarray, x: float, y: float) -> bool:
    return bool((a[int(round(y)), int(round(x))] != b[int(round(y)), int(round(x))]).any())


def test_points_and_edges_are_drawn() -> None:
    scheme = get_scheme("fashionai")
    skirt = scheme.category(4)
    full = np.zeros((24, 3))
    full[list(skirt.slots)] = skirt_points()
    before = BLACK.copy()
    out = draw_instance(BLACK, full, scheme, 4, score_thr=0.5)
    assert (BLACK == before).all(), "input must not be modified"
    for x, y, _ in skirt_points():
        assert changed(out, BLACK, x, y)
    assert (0, 1) in skirt.skeleton
    assert changed(out, BLACK, 80, 20)  # midpoint of the waistband edge
    assert not changed(out, BLACK, 80, 60)  # centre of the garment: no edge there
    # left/right members of a flip pair get different tints of the category colour
    assert (out[20, 40] != out[20, 120]).any()
    # local layout gives the same picture
    assert (draw_instance(BLACK, skirt_points(), scheme, 4, score_thr=0.5) == out).all()


def test_below_threshold_point_and_its_edges_are_skipped() -> None:
    scheme = get_scheme("fashionai-skirt")
    pts = skirt_points()
    pts[1, 2] = 0.2  # waistband_right below threshold
    out = draw_instance(BLACK, pts, scheme, 4, score_thr=0.5)
    assert not changed(out, BLACK, 120, 20)
    assert not changed(out, BLACK, 80, 20)  # edge waistband_left - waistband_right not drawn
    assert changed(out, BLACK, 40, 20) and changed(out, BLACK, 35, 60)  # left side edge stays
    none = draw_instance(BLACK, pts, scheme, 4, score_thr=0.95)
    assert (none == BLACK).all()
    pts[0, 0] = np.nan  # non-finite coordinates are never drawn
    assert not changed(draw_instance(BLACK, pts, scheme, 4, score_thr=0.0), BLACK, 40, 20)


def test_294_and_agg81_draw_the_same_instance() -> None:
    s294, s81 = get_scheme("deepfashion2"), get_scheme("deepfashion2-agg81")
    cat = s294.category(1)
    rng = np.random.default_rng(0)
    local = np.concatenate([rng.uniform(10, 110, (cat.num_keypoints, 2)),
                            np.ones((cat.num_keypoints, 1))], axis=1)
    k294 = np.zeros((294, 3))
    k294[list(cat.slots)] = local
    k81 = s294.convert(k294[None], [1], s81)[0]
    a = draw_instance(BLACK, k294, s294, 1)
    assert (a == draw_instance(BLACK, k81, s81, 1)).all()
    assert (a == draw_instance(BLACK, local, s294, 1)).all()
    assert (a == draw_instance(BLACK, k294.reshape(-1).tolist(), s294, 1)).all()  # flat list
    for x, y, _ in local:
        assert changed(a, BLACK, x, y)
    with pytest.raises(ValueError, match="fit neither"):
        draw_instance(BLACK, np.zeros((7, 3)), s294, 1)


def test_category_colors_are_distinct() -> None:
    colors = [category_color(c) for c in range(1, 14)]
    assert len(set(colors)) == 13 and len(PALETTE) >= 13
    # colour override (0,0,200): waistband_left (first of its flip pair) is lightened halfway to
    # white -> (127,127,227); waistband_right (second) darkened x0.55 -> (0,0,110).
    out = draw_instance(BLACK, skirt_points(), get_scheme("fashionai-skirt"), 4, color=(0, 0, 200))
    assert out[20, 40].tolist() == [127, 127, 227] and out[20, 120].tolist() == [0, 0, 110]


def test_side_by_side() -> None:
    s = get_scheme("fashionai-skirt")
    pred = [{"keypoints": skirt_points(), "category_id": 4}]
    out = side_by_side(BLACK, pred, [], s)
    band = out.shape[0] - BLACK.shape[0]
    assert out.shape == (BLACK.shape[0] + band, 2 * BLACK.shape[1], 3) and band > 0
    assert changed(out[band:, :160], BLACK, 40, 20)  # prediction on the left
    assert (out[band:, 160:] == BLACK).all()  # no ground truth on the right
    assert out[:band].any()  # the labels


def test_make_grid_shape_and_placement() -> None:
    imgs = [np.full((30, 60, 3), 50 * i, np.uint8) for i in range(1, 6)]
    grid = make_grid(imgs, ncols=2, cell_size=(40, 20))
    assert grid.shape == (3 * 20, 2 * 40, 3)
    assert grid[10, 20].tolist() == [50] * 3 and grid[10, 60].tolist() == [100] * 3
    assert grid[50, 20].tolist() == [250] * 3 and not grid[50, 60].any()  # empty last cell
    titled = make_grid(imgs[:2], ncols=3, cell_size=(40, 40), titles=["a", "b"])
    assert titled.shape == (40, 120, 3)
    gray = make_grid([np.zeros((5, 5), np.uint8)], ncols=1, cell_size=(10, 10))
    assert gray.shape == (10, 10, 3)
    with pytest.raises(ValueError, match="titles"):
        make_grid(imgs, 2, titles=["x"])


def test_category_grid_shape() -> None:
    img = np.full((30, 30, 3), 200, np.uint8)
    grid = category_grid({3: [img], 1: [img] * 5}, get_scheme("fashionai"), ncols=2,
                         cell_size=(30, 30), label_width=50)
    # category 1: 3 rows of 2, category 3: 1 row -> 4 rows of 30 px
    assert grid.shape == (4 * 30, 50 + 2 * 30, 3)
    assert grid[100, 60].tolist() == [200] * 3  # category 3 example in its row
    assert grid[115, 5].tolist() == list(category_color(3))  # its name strip colour


def test_save_png_round_trip(tmp_path: Path) -> None:
    img = (np.arange(60 * 3).reshape(4, 5, 9) % 256).astype(np.uint8)[..., :3]
    path = tmp_path / "a" / "b" / "x.png"
    save_png(path, img)
    assert (cv2.imread(str(path)) == img).all()
    assert [p.name for p in path.parent.iterdir()] == ["x.png"]
    with pytest.raises(ValueError, match="png"):
        save_png(tmp_path / "x.jpg", img)
