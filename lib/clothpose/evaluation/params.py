"""COCOeval keypoint parameters (``Params.setKpParams``), built with the same expressions so the
threshold values are bit-identical to pycocotools'."""
from __future__ import annotations

import numpy as np

STAT_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")
IOU_THRS = np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)
REC_THRS = np.linspace(.0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True)
AREA_RANGES = np.array([[0 ** 2, 1e5 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]], dtype=float)
AREA_LABELS = ("all", "medium", "large")
MAX_DETS = 20

# COCOeval box parameters (``Params.setDetParams``; iouType 'bbox'): same IoU / recall
# thresholds, four area ranges and three maxDets values.
BOX_STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs",
                  "ARm", "ARl")
BOX_AREA_RANGES = np.array([[0 ** 2, 1e5 ** 2], [0 ** 2, 32 ** 2], [32 ** 2, 96 ** 2],
                            [96 ** 2, 1e5 ** 2]], dtype=float)
BOX_AREA_LABELS = ("all", "small", "medium", "large")
BOX_MAX_DETS = (1, 10, 100)
