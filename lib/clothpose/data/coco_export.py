"""COCO-style keypoint files in the official DeepFashion2 converter's format, streamed to disk.

Annotations are serialised one at a time (a 294-layout train file holds ~312k x 882 numbers), and
every file is written atomically.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..keypoints import deepfashion2 as df2
from ..keypoints import get_scheme
from ..utils.io import atomic_write

LAYOUTS = {"294": "deepfashion2", "agg81": "deepfashion2-agg81"}


def coco_categories(num_keypoints: int) -> list[dict]:
    """The 13 category dicts: official names, supercategory 'clothes', keypoints '1'..'K'."""
    names = [str(i) for i in range(1, num_keypoints + 1)]
    return [{"id": cid, "name": name, "supercategory": "clothes", "keypoints": list(names),
             "skeleton": []} for cid, name, _raw, _n in df2.CATEGORIES]


def image_record(image_id: int, file_name: str, width: int, height: int) -> dict:
    return {"coco_url": "", "date_captured": "", "file_name": file_name, "flickr_url": "",
            "id": image_id, "license": 0, "width": width, "height": height}


def layout_keypoints(landmarks: np.ndarray, category_id: int, layout: str) -> np.ndarray:
    """(n, 3) local landmarks -> flat (K*3,) vector of ``layout`` (zeros outside the category).

    The 294 vector is the official converter's; other layouts are converted from it with the
    keypoint scheme (``convert``), so both files always agree.
    """
    full = get_scheme("deepfashion2")
    vec = np.zeros((1, full.num_keypoints, 3))
    vec[0, list(full.category(category_id).slots)] = landmarks
    if layout != "294":
        vec = full.convert(vec, [category_id], get_scheme(LAYOUTS[layout]))
    return vec.reshape(-1)


def annotation_record(item, ann_id: int, image_id: int, pair_id, layout: str) -> dict:
    """One annotation dict, field by field as ``deepfashion2_to_coco.py`` builds it."""
    x1, y1, x2, y2 = item.bbox
    w, h = x2 - x1, y2 - y1
    return {
        "area": w * h,
        "bbox": [x1, y1, w, h],
        "category_id": item.category_id,
        "id": ann_id,
        "pair_id": pair_id,
        "image_id": image_id,
        "iscrowd": 0,
        "style": item.style,
        "num_keypoints": int((item.landmarks[:, 2] > 0).sum()),
        "keypoints": layout_keypoints(item.landmarks, item.category_id, layout).tolist(),
        "segmentation": item.segmentation,
    }


def _annotations(images: Iterable, layout: str, category: int | None) -> Iterator[dict]:
    ann_id = 0
    for img in images:
        for item in img.items:
            if category is not None and item.category_id != category:
                continue
            ann_id += 1
            yield annotation_record(item, ann_id, img.image_id, img.pair_id, layout)


def write_coco(path: str | os.PathLike, images: list, layout: str = "294",
               category: int | None = None) -> int:
    """Stream one COCO file; with ``category`` only that category's items and their images.

    Returns the number of annotations written.
    """
    if category is not None:
        images = [i for i in images if any(it.category_id == category for it in i.items)]
    k = get_scheme(LAYOUTS[layout]).num_keypoints
    count = 0

    def write(f) -> None:
        nonlocal count
        f.write('{"info": {}, "licenses": [], "images": ')
        json.dump([image_record(i.image_id, i.file_name, i.width, i.height) for i in images], f)
        f.write(', "annotations": [')
        for n, ann in enumerate(_annotations(images, layout, category)):
            f.write(", " if n else "")
            f.write(json.dumps(ann))
            count += 1
        f.write('], "categories": ')
        json.dump(coco_categories(k), f)
        f.write("}")

    atomic_write(path, write)
    return count


def write_split_files(out: Path, split: str, images: list, per_category: bool = True
                      ) -> dict[str, Path]:
    """All files of one split: 294 + agg81, and per-category 294 + agg81 (k = 1..13)."""
    paths = {"294": out / "annotations" / f"{split}_coco.json",
             "agg81": out / "annotations_agg81kps" / f"{split}_coco_agg81kps.json"}
    write_coco(paths["294"], images, "294")
    write_coco(paths["agg81"], images, "agg81")
    if per_category:
        for cid, *_ in df2.CATEGORIES:
            for layout, folder in (("294", "annotations_per_category"),
                                   ("agg81", "annotations_per_category_agg81kps")):
                p = out / folder / f"{split}_coco_category_{cid}.json"
                write_coco(p, images, layout, category=cid)
                paths[f"{layout}_cat{cid}"] = p
    return paths
