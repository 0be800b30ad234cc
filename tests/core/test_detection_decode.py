"""CenterNet decoding: targets -> decode round trip, peak extraction, flip averaging, mapping
back to image pixels."""
from __future__ import annotations

import numpy as np
import torch

from clothpose.core.detection_decode import (boxes_to_image, decode_centernet, input_transform,
                                             merge_flip, peaks)
from clothpose.data.detection_dataset import transform_boxes
from clothpose.data.detection_targets import centernet_targets
from clothpose.data.augment import crop_matrix


def perfect_outputs(boxes, classes, num_classes, size):
    """Network outputs that are exactly the targets (sizes / offsets at the centre cells)."""
    t = centernet_targets(boxes, classes, num_classes, size, max_objects=8)
    w, h = size
    wh = np.zeros((2, h * w), np.float32)
    off = np.zeros((2, h * w), np.float32)
    n = int(t.mask.sum())
    wh[:, t.index[:n]] = t.size[:n].T
    off[:, t.index[:n]] = t.offset[:n].T
    return (torch.from_numpy(t.heatmap[None]), torch.from_numpy(wh.reshape(1, 2, h, w)),
            torch.from_numpy(off.reshape(1, 2, h, w)))


def test_decoding_perfect_outputs_gives_the_boxes_back():
    boxes = np.array([[2.0, 3.0, 10.5, 9.0], [20.25, 4.0, 30.0, 20.0], [1.0, 12.0, 9.0, 23.0]])
    classes = np.array([1, 4, 1])
    heat, size, off = perfect_outputs(boxes, classes, 5, (32, 24))
    det = decode_centernet(heat, size, off, k=10)
    assert det.boxes.shape == (1, 10, 4)
    top = np.argsort(-det.scores[0])[:3]
    assert np.all(det.scores[0, top] == 1.0) and det.scores[0, 3] < 1.0
    order = np.argsort(det.boxes[0, top, 0])
    np.testing.assert_allclose(det.boxes[0, top][order], boxes[[2, 0, 1]], atol=1e-5)
    assert det.classes[0, top][order].tolist() == [1, 1, 4]


def test_peaks_keep_local_maxima_only():
    heat = torch.zeros(1, 2, 5, 5)
    heat[0, 0, 2, 2], heat[0, 0, 2, 3], heat[0, 0, 0, 0] = 0.9, 0.5, 0.3
    heat[0, 1, 2, 3] = 0.4                              # another class: not suppressed by 0.9
    kept = peaks(heat)
    assert kept[0, 0, 2, 2] == 0.9 and kept[0, 0, 2, 3] == 0 and kept[0, 0, 0, 0] == 0.3
    assert kept[0, 1, 2, 3] == 0.4
    det = decode_centernet(heat, torch.zeros(1, 2, 5, 5), torch.zeros(1, 2, 5, 5), k=3)
    np.testing.assert_allclose(det.scores[0], [0.9, 0.4, 0.3])
    assert det.classes[0].tolist() == [0, 1, 0]


def test_flip_merge_of_mirrored_outputs_is_the_identity():
    g = torch.Generator().manual_seed(1)
    logits, size, off = (torch.randn(2, 3, 4, 6, generator=g), torch.rand(2, 2, 4, 6, generator=g),
                         torch.randn(2, 2, 4, 6, generator=g))
    h, s, o = merge_flip(logits, size, off, logits.flip(3), size.flip(3))
    assert torch.allclose(h, torch.sigmoid(logits)) and torch.equal(s, size)
    assert torch.equal(o, off)                          # offsets: the unflipped image only
    h2, s2, _ = merge_flip(logits, size, off, torch.zeros_like(logits), torch.zeros_like(size))
    assert torch.allclose(h2, (torch.sigmoid(logits) + 0.5) / 2)
    assert torch.allclose(s2, size / 2)


def test_letterbox_and_back_projection_round_trip():
    boxes = np.array([[10.0, 20.0, 100.0, 50.0], [0.0, 0.0, 299.0, 199.0]])   # x, y, w, h
    for (w, h), size in (((300, 200), (128, 128)), ((200, 300), (128, 96))):
        center, scale = input_transform(w, h, size)
        m = crop_matrix(center, scale, 0.0, size)
        cells = transform_boxes(boxes, m / 4)
        corners = np.array([[0, 0], [w - 1, h - 1]], float) @ m[:, :2].T + m[:, 2]
        assert corners.min() >= -1e-6 and (corners.max(axis=0) <= np.array(size) + 1e-6).all()
        back = boxes_to_image(cells, center, scale, (size[0] // 4, size[1] // 4))
        np.testing.assert_allclose(back[:, 2:] - back[:, :2], boxes[:, 2:], atol=1e-3)
        np.testing.assert_allclose(back[:, :2], boxes[:, :2], atol=1e-3)
    clipped = boxes_to_image(np.array([[-5.0, -5.0, 500.0, 500.0]]), np.array([150.0, 100.0]),
                             np.array([1.5, 1.5]), (32, 32), image_size=(300, 200))
    np.testing.assert_allclose(clipped, [[0, 0, 299, 199]])


def test_negative_sizes_and_boxes_without_area_are_dropped():
    from clothpose.core.detection_decode import detections_in_images

    heat = torch.zeros(1, 2, 8, 8)
    heat[0, 0, 2, 2], heat[0, 1, 5, 5], heat[0, 0, 6, 1] = 0.9, 0.8, 0.7
    size = torch.zeros(1, 2, 8, 8)
    size[0, :, 2, 2] = torch.tensor([2.0, 3.0])
    size[0, :, 5, 5] = torch.tensor([-1.0, 2.0])             # negative width: no box
    size[0, :, 6, 1] = torch.tensor([1.0, 1.0])
    det = decode_centernet(heat, size, torch.zeros(1, 2, 8, 8), k=3)
    assert (det.boxes[..., 2:] >= det.boxes[..., :2]).all()  # never inverted
    center, scale = input_transform(32, 32, (32, 32))
    (found,) = detections_in_images(heat, size, torch.zeros(1, 2, 8, 8), center[None],
                                    scale[None], np.array([[32, 32]]), np.array([4, 9]), k=3,
                                    score_thr=0.75)
    np.testing.assert_allclose(found.scores, [0.9])           # 0.8 has no area, 0.7 too low
    np.testing.assert_allclose(found.boxes, [[4.0, 2.0, 8.0, 12.0]], atol=1e-5)
    assert found.category_ids.tolist() == [4]
