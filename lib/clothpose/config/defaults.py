"""The configuration schema: every key, its default, and what it is for.

Upstream HRNet's keys are all here with their meaning unchanged, so experiment files written for
HRNet or for the DeepFashion2 winning solution (lzhbrian/deepfashion2-kps-agg-finetune) load as
they are. New keys have cleaner names; the two lower-case keys of the winning solution
(``train_category_id``, ``finetune_from``) are kept and translated by the loader.
Use ``get_cfg()`` for a fresh copy; never mutate ``_C``.
"""
from __future__ import annotations

from yacs.config import CfgNode as CN

_C = CN()

_C.CFG_NAME = ""                # experiment name; "" = the YAML file stem
_C.OUTPUT_DIR = "output"        # runs go to OUTPUT_DIR/<dataset>/<model>/<cfg name>/
_C.LOG_DIR = "log"              # tensorboard logs go to LOG_DIR/<dataset>/<model>/<cfg name>_<time>
_C.DATA_DIR = ""                # prefix joined to DATASET.ROOT, MODEL.PRETRAINED, TEST.MODEL_FILE
_C.GPUS = (0,)                  # accepted for HRNet/seed files; devices come from DEVICE / torchrun
_C.DEVICE = "auto"              # auto | cpu | cuda
_C.WORKERS = 4                  # DataLoader workers per process
_C.PRINT_FREQ = 20              # log every N iterations
_C.AUTO_RESUME = False          # resume from OUTPUT_DIR/.../checkpoint.pth when it exists
_C.PIN_MEMORY = True
_C.RANK = 0                     # HRNet key, unused: the rank comes from torch.distributed
_C.SEED = -1                    # >= 0: seed every RNG (deterministic CPU runs)

# Keys of the DeepFashion2 winning solution (top level, lower case, as in its files).
_C.train_category_id = 0        # >0: finetune on this category only (-> DATASET.CATEGORIES)
_C.finetune_from = ""           # checkpoint to start from (-> TRAIN.INIT_FROM)

_C.CUDNN = CN()
_C.CUDNN.BENCHMARK = True
_C.CUDNN.DETERMINISTIC = False
_C.CUDNN.ENABLED = True

_C.MODEL = CN()
_C.MODEL.NAME = "pose_hrnet"    # pose_hrnet | pose_resnet | cpn | centernet (garment detector)
_C.MODEL.INIT_WEIGHTS = True
_C.MODEL.PRETRAINED = ""        # ImageNet / COCO weights, loaded per EXTRA.PRETRAINED_LAYERS
_C.MODEL.MIN_LOADED_FRACTION = 0.25  # refuse PRETRAINED / TRAIN.INIT_FROM files that fit less of
                                     # the model's weights (0 = load whatever fits)
_C.MODEL.NUM_JOINTS = 0         # output channels; 0 = take it from the keypoint scheme
_C.MODEL.TAG_PER_JOINT = True
_C.MODEL.TARGET_TYPE = "gaussian"
_C.MODEL.IMAGE_SIZE = [256, 256]   # width, height
_C.MODEL.HEATMAP_SIZE = [64, 64]   # width, height; IMAGE_SIZE / HEATMAP_SIZE must be an integer
_C.MODEL.SIGMA = 2.0               # Gaussian target sigma in heatmap pixels

_C.MODEL.EXTRA = CN()
_C.MODEL.EXTRA.PRETRAINED_LAYERS = ["*"]  # top-level module names to load; '*' = all
_C.MODEL.EXTRA.FINAL_CONV_KERNEL = 1
_C.MODEL.EXTRA.STEM_INPLANES = 64
# HRNet stages (defaults: W32). STAGE1 is layer1 (Bottleneck blocks; 4 x 64 in every official
# pose model, 1 x 32 in W18-small).
_C.MODEL.EXTRA.STAGE1 = CN()
_C.MODEL.EXTRA.STAGE1.NUM_MODULES = 1
_C.MODEL.EXTRA.STAGE1.NUM_BRANCHES = 1
_C.MODEL.EXTRA.STAGE1.BLOCK = "BOTTLENECK"
_C.MODEL.EXTRA.STAGE1.NUM_BLOCKS = [4]
_C.MODEL.EXTRA.STAGE1.NUM_CHANNELS = [64]
_C.MODEL.EXTRA.STAGE1.FUSE_METHOD = "SUM"
for _name, _branches, _modules in (("STAGE2", 2, 1), ("STAGE3", 3, 4), ("STAGE4", 4, 3)):
    _s = CN()
    _s.NUM_MODULES = _modules
    _s.NUM_BRANCHES = _branches
    _s.BLOCK = "BASIC"
    _s.NUM_BLOCKS = [4] * _branches
    _s.NUM_CHANNELS = [32 * 2 ** i for i in range(_branches)]
    _s.FUSE_METHOD = "SUM"
    setattr(_C.MODEL.EXTRA, _name, _s)
# SimpleBaseline pose_resnet / CPN backbones.
_C.MODEL.EXTRA.NUM_LAYERS = 50
_C.MODEL.EXTRA.DECONV_WITH_BIAS = False
_C.MODEL.EXTRA.NUM_DECONV_LAYERS = 3
_C.MODEL.EXTRA.NUM_DECONV_FILTERS = [256, 256, 256]
_C.MODEL.EXTRA.NUM_DECONV_KERNELS = [4, 4, 4]
# CPN (FashionAI): FPN width and refine-net bottleneck counts per level (P2..P5).
_C.MODEL.EXTRA.FPN_CHANNELS = 256
_C.MODEL.EXTRA.REFINE_BLOCKS = [1, 1, 2, 3]
_C.MODEL.EXTRA.BACKBONE = "resnet"          # CPN: resnet | senet154; centernet: resnet | hrnet
# CenterNet detector heads (3x3 conv of HEAD_CONV channels + ReLU + 1x1); the heatmap head's last
# bias starts at HEATMAP_BIAS (sigmoid = 0.1, the paper's prior). Classes = the scheme's categories.
_C.MODEL.EXTRA.HEAD_CONV = 64
_C.MODEL.EXTRA.HEATMAP_BIAS = -2.19

_C.LOSS = CN()
_C.LOSS.NAME = "mse"                # mse (HRNet JointsMSELoss) | cpn_l1 (FashionAI reference)
                                    # | centernet (detectors; mse becomes centernet there)
_C.LOSS.USE_OHKM = False            # online hard keypoint mining
_C.LOSS.TOPK = 8                    # keypoints kept by OHKM
_C.LOSS.OHKM_RATIO = 0.0            # >0: keep floor(K * ratio) instead of TOPK (CPN reference)
_C.LOSS.USE_TARGET_WEIGHT = True
_C.LOSS.USE_DIFFERENT_JOINTS_WEIGHT = False
# CenterNet loss weights (paper: 1, 0.1, 1)
_C.LOSS.HEATMAP_WEIGHT = 1.0
_C.LOSS.SIZE_WEIGHT = 0.1
_C.LOSS.OFFSET_WEIGHT = 1.0

_C.DATASET = CN()
_C.DATASET.ROOT = ""
_C.DATASET.DATASET = "deepfashion2"  # deepfashion2 | deepfashion2agg81kps | deepfashion2agg81kpspercategory | fashionai
_C.DATASET.SCHEME = ""              # keypoint scheme; '' = implied by DATASET (see loader)
_C.DATASET.CATEGORIES = []          # category ids to load; [] = all
_C.DATASET.TRAIN_SET = "train"
_C.DATASET.TEST_SET = "validation"
_C.DATASET.DATA_FORMAT = "jpg"
_C.DATASET.HYBRID_JOINTS_TYPE = ""
_C.DATASET.SELECT_DATA = False
_C.DATASET.SKIP_BAD_SAMPLES = False  # skip (and count) unreadable images / degenerate boxes
_C.DATASET.INPUT = "box"            # box (HRNet crops) | image (whole image, FashionAI reference)
# training augmentation
_C.DATASET.FLIP = True
_C.DATASET.SCALE_FACTOR = 0.25
_C.DATASET.ROT_FACTOR = 30
_C.DATASET.ROT_PROB = 0.6           # HRNet rotates 60% of the samples
_C.DATASET.PROB_HALF_BODY = 0.0
_C.DATASET.NUM_JOINTS_HALF_BODY = 8
_C.DATASET.COLOR_RGB = False
# Input normalisation (pixel - MEAN) / STD per channel of the fed image (RGB with COLOR_RGB), in
# 0-255 units as mmpose writes it. Default: torchvision's ImageNet statistics x 255 (HRNet's).
_C.DATASET.PIXEL_MEAN = [123.675, 116.28, 103.53]
_C.DATASET.PIXEL_STD = [58.395, 57.12, 57.375]
# Box (x, y, w, h) -> pixel extent: hrnet x2 = x + w - 1 (HRNet, the seeds) | mmpose x2 = x + w.
_C.DATASET.BOX_CONVENTION = "hrnet"
_C.DATASET.COLOR_JITTER = 0.0       # brightness/contrast/saturation jitter amplitude
# Training crops that shrink a JPEG >= 2x decode it at 1/2, 1/4 or 1/8 size in the DCT domain
# (faster; the averaging also anti-aliases the warp). TEST.REDUCED_DECODE does it at test time.
_C.DATASET.REDUCED_DECODE = True
_C.DATASET.USE_UDP = False          # unbiased data processing end to end: UDP crop, targets and
                                    # back-projection (flip test then needs no SHIFT_HEATMAP)
# detector (MODEL.NAME centernet) augmentation and targets; FLIP, COLOR_JITTER, COLOR_RGB apply too
_C.DATASET.SCALE_RANGE = [0.6, 1.3]  # random zoom of the letterboxed image (< 1 crops)
_C.DATASET.SHIFT_FACTOR = 0.2       # random crop centre shift, fraction of the image size
_C.DATASET.MAX_OBJECTS = 64         # objects per image with a target (more are dropped)
_C.DATASET.GAUSSIAN_RADIUS = "centernet"  # centernet (released code, ~3x larger) | exact (IoU-0.7 rule)

_C.TRAIN = CN()
_C.TRAIN.LR_FACTOR = 0.1
_C.TRAIN.LR_STEP = [90, 110]
_C.TRAIN.LR = 0.001
_C.TRAIN.OPTIMIZER = "adam"         # adam | sgd
_C.TRAIN.MOMENTUM = 0.9
_C.TRAIN.WD = 0.0001
_C.TRAIN.NESTEROV = False
_C.TRAIN.GAMMA1 = 0.99
_C.TRAIN.GAMMA2 = 0.0
_C.TRAIN.BEGIN_EPOCH = 0
_C.TRAIN.END_EPOCH = 140
_C.TRAIN.RESUME = False
_C.TRAIN.CHECKPOINT = ""
_C.TRAIN.INIT_FROM = ""             # start weights (e.g. the aggregation model for finetuning)
_C.TRAIN.INIT_OPTIMIZER = False     # also restore INIT_FROM's optimizer state and LR (a
                                    # checkpoint.pth), as the winner's finetune_from did
_C.TRAIN.BATCH_SIZE_PER_GPU = 32
_C.TRAIN.SHUFFLE = True
_C.TRAIN.AMP = False                # CUDA automatic mixed precision
_C.TRAIN.CHANNELS_LAST = False      # CUDA channels_last memory format
_C.TRAIN.MAX_ITERS_PER_EPOCH = 0    # >0: cap iterations (batches, not optimizer steps) per epoch
# Gradient accumulation: one optimizer step per ACCUM_STEPS batches. TRAIN.LR belongs to the
# effective batch BATCH_SIZE_PER_GPU x processes x ACCUM_STEPS: to reproduce a run of batch B per
# GPU on G GPUs with g GPUs, pick BATCH_SIZE_PER_GPU b and ACCUM_STEPS k with b g k = B G and keep
# LR (BatchNorm still sees batches of b; see README).
_C.TRAIN.ACCUM_STEPS = 1
_C.TRAIN.COMPILE = False            # torch.compile the model (PyTorch 2; first steps compile)
_C.TRAIN.COMPILE_MODE = "default"   # torch.compile mode: default | reduce-overhead | max-autotune
_C.TRAIN.SYNC_BN = False            # SyncBatchNorm across DDP processes (CUDA only; see README)
_C.TRAIN.VAL_FREQ = 1               # validate every N epochs (0 = never)

_C.TEST = CN()
_C.TEST.BATCH_SIZE_PER_GPU = 32
_C.TEST.FLIP_TEST = False
_C.TEST.POST_PROCESS = False        # quarter-pixel shift toward the higher neighbour
_C.TEST.POST_PROCESS_DARK = False   # DARK (distribution-aware) refinement instead
_C.TEST.DARK_KERNEL = 0             # DARK blur kernel; 0 = from MODEL.SIGMA (17 for 3, 11 for 2)
_C.TEST.SHIFT_HEATMAP = False       # shift flipped heatmaps by one pixel (HRNet)
_C.TEST.BLUR_KERNEL = 0             # >0: Gaussian blur of heatmaps before decoding (FashionAI)
_C.TEST.SECOND_MAX_OFFSET = False   # 1/4 offset toward the second maximum (FashionAI reference)
_C.TEST.USE_GT_BBOX = False
_C.TEST.IMAGE_THRE = 0.1            # drop detection boxes below this score
_C.TEST.NMS_THRE = 0.6
_C.TEST.SOFT_NMS = False
_C.TEST.OKS_THRE = 0.5              # OKS-NMS threshold; >= 1 disables NMS
_C.TEST.USE_NMS = False             # the winning solution wrote every box (no NMS)
_C.TEST.NMS_MODE = "hrnet"          # hrnet: per image, all keypoints (HRNet coco.py) |
                                    # mmpose: per (image, category), keypoints > IN_VIS_THRE in both
_C.TEST.IN_VIS_THRE = 0.0
_C.TEST.RESCORE_ALL_CHANNELS = False  # winner's rescoring over all channels, not the category's
_C.TEST.COCO_BBOX_FILE = ""
_C.TEST.BBOX_THRE = 1.0
_C.TEST.MODEL_FILE = ""
_C.TEST.REDUCED_DECODE = False      # off: test crops pixel-identical to HRNet's / mmpose's
_C.TEST.MAX_IMAGES = 0              # >0: test / validate on the first N images (by image id)
_C.TEST.DET_TOPK = 100              # detector: peaks kept per image (COCO's maxDets)
_C.TEST.DET_SCORE_THRE = 0.01       # detector: boxes below this score are not written

_C.DEBUG = CN()
_C.DEBUG.DEBUG = False
_C.DEBUG.SAVE_BATCH_IMAGES_GT = False
_C.DEBUG.SAVE_BATCH_IMAGES_PRED = False
_C.DEBUG.SAVE_HEATMAPS_GT = False
_C.DEBUG.SAVE_HEATMAPS_PRED = False


def get_cfg() -> CN:
    """A fresh, mutable copy of the defaults."""
    return _C.clone()
