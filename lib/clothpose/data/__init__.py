"""Data: DeepFashion2 preparation, synthetic data, records and the keypoint dataset."""
from .build import build_dataset, official_gt, register_record_builder
from .coco_records import (AnnotationFileError, parse_coco_keypoints, parse_detections)
from .image_dataset import BadSampleError
from .keypoint_dataset import KeypointDataset
from . import fashionai as _fashionai  # noqa: F401,E402  registers the FashionAI record builder

__all__ = ["AnnotationFileError", "BadSampleError", "KeypointDataset", "build_dataset",
           "official_gt", "parse_coco_keypoints", "parse_detections", "register_record_builder"]
