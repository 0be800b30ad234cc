"""Detection samples: every item of the prepared COCO file, augmentation that moves boxes
exactly as it moves pixels, and test-time geometry that maps back to the image."""
from __future__ import annotations

import copy
import json

import cv2
import numpy as np
import pytest

from clothpose.core.detection_decode import boxes_to_image, decode_centernet
from clothpose.data.detection_dataset import (DetectionAugment, DetectionDataset,
                                              parse_coco_boxes)
from clothpose.keypoints import get_scheme

SCHEME = get_scheme("deepfashion2")


def test_records_hold_every_item_including_unlabelled_ones(synthetic_df2):
    path = synthetic_df2.root / "annotations" / "validation_coco.json"
    data = json.loads(path.read_text())
    data = copy.deepcopy(data)
    a = data["annotations"][0]
    a["keypoints"] = [0] * len(a["keypoints"])           # an item without landmarks
    a["num_keypoints"] = 0
    data["images"].append({"id": 999, "file_name": "000999.jpg", "width": 50, "height": 40})
    records = parse_coco_boxes(data, SCHEME, "img", str(path))
    assert [r["image_id"] for r in records] == sorted(im["id"] for im in data["images"])
    assert sum(len(r["boxes"]) for r in records) == len(data["annotations"])
    first = next(r for r in records if r["image_id"] == a["image_id"])
    assert any(np.allclose(b, a["bbox"]) for b in first["boxes"])
    assert records[-1]["image_id"] == 999 and records[-1]["boxes"].shape == (0, 4)


def _rectangle_record(tmp_path, box):
    img = np.zeros((240, 320, 3), np.uint8)
    x, y, w, h = box
    img[y:y + h, x:x + w] = 255
    cv2.imwrite(str(tmp_path / "rect.png"), img)
    return {"image": str(tmp_path / "rect.png"), "image_id": 1, "width": 320, "height": 240,
            "boxes": np.array([box], np.float32), "category_ids": np.array([7])}


@pytest.mark.parametrize("seed", range(6))
def test_augmented_boxes_follow_the_pixels(tmp_path, seed):
    box = (60, 40, 120, 90)
    ds = DetectionDataset([_rectangle_record(tmp_path, box)], SCHEME, (128, 128), is_train=True,
                          augment=DetectionAugment(flip=True, scale_range=(0.7, 1.2),
                                                   shift_factor=0.15), seed=seed)
    flips = set()
    for epoch in range(10):
        ds.set_epoch(epoch)
        x, targets, mask, meta = ds[0]
        flips.add(meta["flipped"])
        white = x.numpy()[0] > 0                         # normalised: black < 0 < white
        ys, xs = np.nonzero(white)
        n = int(mask.sum())
        assert n == 1
        w_t, h_t = targets["size"][0].tolist()
        cx, cy = (np.array(divmod(int(targets["index"][0]), 32))[::-1] + targets["offset"][0].numpy())
        x1, y1, x2, y2 = (cx - w_t / 2) * 4, (cy - h_t / 2) * 4, (cx + w_t / 2) * 4, (cy + h_t / 2) * 4
        # the target box is the warped rectangle (clipped to the crop), to a pixel
        assert abs(xs.min() - x1) <= 1.5 and abs(xs.max() + 1 - x2) <= 1.5
        assert abs(ys.min() - y1) <= 1.5 and abs(ys.max() + 1 - y2) <= 1.5
        cls = SCHEME.category_ids.index(7)
        assert targets["heatmap"][cls].max() == 1.0
    assert len(flips) == 2


def test_test_samples_map_back_to_the_image(synthetic_df2):
    path = synthetic_df2.root / "annotations" / "validation_coco.json"
    records = parse_coco_boxes(json.loads(path.read_text()), SCHEME,
                               synthetic_df2.root / "images" / "validation", str(path))
    ds = DetectionDataset(records, SCHEME, (96, 128), is_train=False)
    assert len(ds) == synthetic_df2.counts["validation"]
    for i in range(len(ds)):
        x, t, mask, meta = ds[i]
        assert x.shape == (3, 128, 96) and not meta["flipped"]
        n = int(mask.sum())
        if n == 0:
            continue
        w, h = 24, 32
        wh = np.zeros((1, 2, h * w), np.float32)
        off = np.zeros((1, 2, h * w), np.float32)
        wh[0][:, t["index"][:n].numpy()] = t["size"][:n].numpy().T
        off[0][:, t["index"][:n].numpy()] = t["offset"][:n].numpy().T
        det = decode_centernet(t["heatmap"][None], wh.reshape(1, 2, h, w),
                               off.reshape(1, 2, h, w), k=n)
        back = boxes_to_image(det.boxes[0], meta["center"], meta["scale"], (w, h))
        rec = records[i]
        gt = np.concatenate([rec["boxes"][:, :2], rec["boxes"][:, :2] + rec["boxes"][:, 2:]], 1)
        for b in back:   # every decoded box is one of the image's boxes (ties may merge peaks)
            assert np.abs(gt - b).max(axis=1).min() < 1e-2
