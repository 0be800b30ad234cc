"""The synthetic images must not show where the landmarks are: no marker, no landmark-only cue.

Both tests read only what the generator writes (``make_image``'s image and raw item dicts, and the
prepared COCO file), so they judge any renderer; run against the renderer that drew a dot on
every landmark, both fail (figures in the docstrings).
"""
from __future__ import annotations

import json

import cv2
import numpy as np

from clothpose.data.prepare import prepare_deepfashion2
from clothpose.data.synthetic import make_synthetic, outline, template
from clothpose.data.synthetic.generate import make_image
from clothpose.evaluation import GroundTruth, evaluate_keypoints
from clothpose.keypoints import get_scheme

R = 2                           # window radius of the gradient statistic (5 x 5 px)


def _ks(a: np.ndarray, b: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov distance (largest gap between the empirical CDFs)."""
    v = np.sort(np.r_[a, b])
    fa = np.searchsorted(np.sort(a), v, side="right") / len(a)
    fb = np.searchsorted(np.sort(b), v, side="right") / len(b)
    return float(np.abs(fa - fb).max())


def _on_outline(polygons: list, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points uniformly distributed along the closed polygons (flat x, y lists)."""
    a, b = [], []
    for flat in polygons:
        p = np.array(flat, float).reshape(-1, 2)
        a.append(p)
        b.append(np.roll(p, -1, axis=0))
    a, b = np.concatenate(a), np.concatenate(b)
    cum = np.r_[0.0, np.cumsum(np.linalg.norm(b - a, axis=1))]
    at = rng.uniform(0, cum[-1], n)
    k = np.searchsorted(cum, at, side="right") - 1
    t = ((at - cum[k]) / np.maximum(cum[k + 1] - cum[k], 1e-9))[:, None]
    return a[k] + t * (b[k] - a[k])


def _window_stats(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: mean Sobel gradient magnitude over the 5x5 window, and the colour distance
    between the 3x3 and the 9x9 window means (a small blob of another colour)."""
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
    mag = cv2.magnitude(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    grad = cv2.boxFilter(mag, -1, (2 * R + 1, 2 * R + 1), borderType=cv2.BORDER_REFLECT)
    col = img.astype(np.float32)
    blob = np.linalg.norm(cv2.boxFilter(col, -1, (3, 3)) - cv2.boxFilter(col, -1, (9, 9)), axis=2)
    return grad, blob


def test_windows_at_landmarks_look_like_windows_elsewhere_on_the_outline():
    """Statistic: at every visible landmark (v = 2) and at 30 random points per garment spread
    uniformly along the same garment's outline (its annotation polygons; points covered by a
    garment drawn later removed), (a) the mean gradient magnitude in a 5x5 window and (b) the
    colour distance between the 3x3 and 9x9 window means, over 150 scenes written as JPEG q90.
    Threshold: for both, the two-sample KS distance between landmark and outline values < 0.08
    and the ratio of the means within 1 +- 0.08. Geometry alone (corners, the several edges near a
    neckline) gives KS ~0.035 and ratios 0.99-1.02 here (the 1 % critical KS value for these
    ~4300 / 6100 samples is 0.032); the renderer that drew a dot on every landmark gave KS
    0.47 / 0.54 and ratios 1.48 / 2.08."""
    rng = np.random.default_rng(0)
    at_landmarks: list[list[np.ndarray]] = [[], []]
    on_outline: list[list[np.ndarray]] = [[], []]
    for _ in range(150):
        img, items = make_image(rng, (256, 256))
        img = cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], 1)
        h, w = img.shape[:2]
        stats = _window_stats(img)
        for i, it in enumerate(items):
            cover = np.zeros((h, w), np.uint8)
            for later in items[i + 1:]:
                cv2.fillPoly(cover, [np.round(np.array(p).reshape(-1, 2)).astype(np.int32)
                                     for p in later["segmentation"]], 1)

            def usable(p: np.ndarray) -> np.ndarray:
                x, y = np.round(p[:, 0]).astype(int), np.round(p[:, 1]).astype(int)
                ok = (x > R) & (y > R) & (x < w - R - 1) & (y < h - R - 1)
                return p[ok][cover[y[ok], x[ok]] == 0].round().astype(int)

            lm = np.array(it["landmarks"], float).reshape(-1, 3)
            lp = usable(lm[lm[:, 2] == 2, :2])
            rp = usable(_on_outline(it["segmentation"], 30, rng))
            for k, s in enumerate(stats):
                at_landmarks[k].append(s[lp[:, 1], lp[:, 0]])
                on_outline[k].append(s[rp[:, 1], rp[:, 0]])
    for k, name in enumerate(("mean gradient (5x5)", "3x3 vs 9x9 colour")):
        a, b = np.concatenate(at_landmarks[k]), np.concatenate(on_outline[k])
        assert len(a) > 2000 and len(b) > 2000
        ks, ratio = _ks(a, b), a.mean() / b.mean()
        assert ks < 0.08 and abs(ratio - 1) < 0.08, (name, ks, ratio, len(a), len(b))


def _ordered_snap(guess: np.ndarray, ring: list[int], poly: np.ndarray) -> np.ndarray:
    """Assign the ring's landmarks (in outline order) to polygon vertices in the same cyclic
    order, either direction, minimising the summed distance to ``guess`` (dynamic programming);
    a polygon whose vertices are exactly the outline landmarks is decoded perfectly."""
    g = guess[np.asarray(ring) - 1]
    best, out = np.inf, None
    for verts in (poly, poly[::-1]):
        v = np.vstack([verts, verts])                           # any start vertex
        d = np.linalg.norm(g[:, None] - v[None], axis=2)        # (n, 2m)
        cost, back = d[0].copy(), []
        idx = np.arange(d.shape[1])
        for i in range(1, len(g)):
            pmin = np.minimum.accumulate(cost)
            parg = np.maximum.accumulate(np.where(cost == pmin, idx, 0))   # argmin of cost[:j+1]
            back.append(np.r_[0, parg[:-1]])                              # best j' < j
            cost = d[i] + np.r_[np.inf, pmin[:-1]]
        if cost.min() < best:
            j = int(np.argmin(cost))
            picks = [j]
            for run in reversed(back):
                j = int(run[j])
                picks.append(j)
            best, out = cost.min(), v[picks[::-1]]
    return out


def test_landmark_agnostic_baseline_is_far_from_the_answer(tmp_path):
    """Baseline that knows the garment's box, category and outline polygons but no landmark
    identity: the category template stretched over the GT box; then (b) each point moved to the
    nearest polygon vertex, or (c) the outline landmarks matched, in outline order, to the outer
    polygon's vertices (``_ordered_snap``) and the others to the nearest vertex. Scored by the
    project's evaluator (official AP, score 1). Each must stay below AP 0.3 (the demo's trained
    model reaches about twice that); here (a) 0.08, (b) 0.20, (c) 0.23. Polygons whose vertices
    are the landmarks (the old generator: (b) 0.36, (c) 0.55) or garments that are little more
    than the template in a box fail."""
    make_synthetic(tmp_path / "raw", {"validation": 150}, seed=1, size=(256, 256))
    prepare_deepfashion2(tmp_path / "raw", tmp_path / "prep", progress=False)
    coco = json.loads((tmp_path / "prep/annotations/validation_coco.json").read_text())
    scheme = get_scheme("deepfashion2")
    ids, cats, guesses = [], [], [[], [], []]
    for a in coco["annotations"]:
        cid = a["category_id"]
        t = template(cid)
        x, y, bw, bh = a["bbox"]
        guess = np.array([x, y]) + (t - t.min(0)) / np.ptp(t, axis=0) * [bw, bh]
        polys = [np.array(p, float).reshape(-1, 2) for p in a["segmentation"]]
        every = np.concatenate(polys)
        near = every[np.linalg.norm(guess[:, None] - every[None], axis=2).argmin(1)]
        ring = list(outline(cid)[0])
        ordered = near.copy()
        ordered[np.asarray(ring) - 1] = _ordered_snap(guess, ring, polys[0])
        for out, pts in zip(guesses, (guess, near, ordered)):
            full = np.zeros((scheme.num_keypoints, 3))
            full[list(scheme.category(cid).slots), :2] = pts
            out.append(full)
        ids.append(a["image_id"])
        cats.append(cid)
    gt = GroundTruth.load(coco)
    assert len(ids) > 150
    for name, kps in zip(("template in box", "nearest vertex", "ordered vertices"), guesses):
        ap = evaluate_keypoints(gt, np.array(ids), np.array(cats), np.array(kps),
                                np.ones(len(ids))).stats["AP"]
        assert 0.0 <= ap < 0.3, (name, ap)
