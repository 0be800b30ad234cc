"""Config loading: seed-shaped files, _BASE_, overrides, legacy keys, validation errors."""
import pytest

from clothpose.config import ConfigError, check_paths, get_cfg, load_config

# Shape of the winning solution's per-category finetune file (keys and value styles as in its
# experiments/deepfashion2/*.yaml), written here rather than copied.
SEED_FINETUNE = """
AUTO_RESUME: true
CUDNN:
  BENCHMARK: true
  DETERMINISTIC: false
  ENABLED: true
DATA_DIR: ''
GPUS: (0,1,2,3)
OUTPUT_DIR: 'output'
LOG_DIR: 'log'
WORKERS: 24
PRINT_FREQ: 10

train_category_id: 3
finetune_from: 'output/deepfashion2agg81kps/pose_hrnet/agg/epoch_11.pth'

DATASET:
  COLOR_RGB: true
  DATASET: 'deepfashion2agg81kpspercategory'
  DATA_FORMAT: jpg
  FLIP: true
  NUM_JOINTS_HALF_BODY: 8
  PROB_HALF_BODY: 0.0
  ROOT: 'data/deepfashion2/'
  ROT_FACTOR: 30
  SCALE_FACTOR: 0.25
  TEST_SET: 'validation'
  TRAIN_SET: 'train'
MODEL:
  INIT_WEIGHTS: true
  NAME: pose_hrnet
  NUM_JOINTS: 81
  TARGET_TYPE: gaussian
  IMAGE_SIZE:
  - 384
  - 512
  HEATMAP_SIZE:
  - 96
  - 128
  SIGMA: 3
  EXTRA:
    PRETRAINED_LAYERS:
    - '*'
    FINAL_CONV_KERNEL: 1
    STAGE2:
      NUM_MODULES: 1
      NUM_BRANCHES: 2
      BLOCK: BASIC
      NUM_BLOCKS: [4, 4]
      NUM_CHANNELS: [48, 96]
      FUSE_METHOD: SUM
    STAGE3:
      NUM_MODULES: 4
      NUM_BRANCHES: 3
      BLOCK: BASIC
      NUM_BLOCKS: [4, 4, 4]
      NUM_CHANNELS: [48, 96, 192]
      FUSE_METHOD: SUM
    STAGE4:
      NUM_MODULES: 3
      NUM_BRANCHES: 4
      BLOCK: BASIC
      NUM_BLOCKS: [4, 4, 4, 4]
      NUM_CHANNELS: [48, 96, 192, 384]
      FUSE_METHOD: SUM
LOSS:
  USE_TARGET_WEIGHT: true
TRAIN:
  BATCH_SIZE_PER_GPU: 8
  SHUFFLE: true
  BEGIN_EPOCH: 0
  END_EPOCH: 12
  OPTIMIZER: adam
  LR: 0.0001
  LR_FACTOR: 0.1
  LR_STEP:
  - 7
  - 10
  WD: 0.0001
  GAMMA1: 0.99
  GAMMA2: 0.0
  MOMENTUM: 0.9
  NESTEROV: false
TEST:
  BATCH_SIZE_PER_GPU: 32
  BBOX_THRE: 1.0
  IMAGE_THRE: 0.0
  IN_VIS_THRE: 0.2
  MODEL_FILE: ''
  NMS_THRE: 1.0
  SOFT_NMS: true
  OKS_THRE: 0.9
  USE_GT_BBOX: true
  FLIP_TEST: false
  POST_PROCESS: true
  SHIFT_HEATMAP: true
DEBUG:
  DEBUG: true
  SAVE_BATCH_IMAGES_GT: true
  SAVE_BATCH_IMAGES_PRED: true
  SAVE_HEATMAPS_GT: true
  SAVE_HEATMAPS_PRED: true
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


@pytest.mark.parametrize("dataset,joints,scheme", [
    ("deepfashion2agg81kpspercategory", 81, "deepfashion2-agg81"),
    ("deepfashion2agg81kps", 81, "deepfashion2-agg81"),
    ("deepfashion2", 294, "deepfashion2"),
])
def test_seed_shaped_files_load_unchanged(tmp_path, dataset, joints, scheme):
    text = SEED_FINETUNE.replace("'deepfashion2agg81kpspercategory'", f"'{dataset}'") \
        .replace("NUM_JOINTS: 81", f"NUM_JOINTS: {joints}")
    cfg = load_config(write(tmp_path, "w48_512x384_adam_lr1e-3-agg81kps-category3-hflip.yaml", text))
    assert cfg.is_frozen()
    assert cfg.DATASET.SCHEME == scheme and cfg.MODEL.NUM_JOINTS == joints
    assert cfg.DATASET.CATEGORIES == [3]  # train_category_id
    assert cfg.TRAIN.INIT_FROM == "output/deepfashion2agg81kps/pose_hrnet/agg/epoch_11.pth"
    assert cfg.GPUS == (0, 1, 2, 3) and cfg.MODEL.SIGMA == 3.0
    assert cfg.MODEL.EXTRA.STAGE4.NUM_CHANNELS == [48, 96, 192, 384]
    assert cfg.CFG_NAME == "w48_512x384_adam_lr1e-3-agg81kps-category3-hflip"


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path, "base.yaml", "MODEL:\n  IMAGE_SIZE: [192, 256]\n  HEATMAP_SIZE: [48, 64]\n"
                                 "TRAIN:\n  LR: 0.001\n  LR_STEP: [7, 10]\n")
    child = write(tmp_path, "child.yaml", "_BASE_: base.yaml\nTRAIN:\n  LR: 0.0005\n")
    cfg = load_config(child, ["TRAIN.LR", "1e-4", "DATASET.CATEGORIES", "[7]", "MODEL.SIGMA", "3"])
    assert cfg.MODEL.IMAGE_SIZE == [192, 256]       # from the base
    assert cfg.TRAIN.LR_STEP == [7, 10]
    assert cfg.TRAIN.LR == 1e-4                      # override beats child beats base
    assert cfg.DATASET.CATEGORIES == [7] and cfg.MODEL.SIGMA == 3.0
    assert get_cfg().TRAIN.LR == 0.001               # defaults untouched
    cyc = write(tmp_path, "cyc.yaml", "_BASE_: cyc.yaml\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_config(cyc)


@pytest.mark.parametrize("opts,match", [
    (["TRAIN.NOPE", "1"], "TRAIN.NOPE"),
    (["MODEL.HEATMAP_SIZE", "[50, 64]"], "integer stride"),
    (["MODEL.NUM_JOINTS", "17"], "does not match scheme"),
    (["DATASET.CATEGORIES", "[14]"], "category 14"),
    (["DATASET.DATASET", "coco"], "unknown"),
    (["TRAIN.OPTIMIZER", "rmsprop"], "rmsprop"),
    (["TRAIN.LR"], "KEY VALUE"),
    (["DATASET.PIXEL_STD", "[58.4, 0.0, 57.4]"], "DATASET.PIXEL_STD"),
    (["DATASET.PIXEL_MEAN", "[0.5, 0.5]"], "DATASET.PIXEL_MEAN"),
    (["DATASET.BOX_CONVENTION", "coco"], "DATASET.BOX_CONVENTION"),
])
def test_validation_errors_name_the_key(opts, match):
    with pytest.raises(ConfigError, match=match):
        load_config(None, opts)


def test_data_dir_prefix_and_missing_inputs_reported_together(tmp_path):
    cfg = load_config(None, ["DATA_DIR", str(tmp_path), "DATASET.ROOT", "df2",
                             "MODEL.PRETRAINED", "w.pth", "TEST.MODEL_FILE", "m.pth",
                             "TEST.COCO_BBOX_FILE", str(tmp_path / "det.json")])
    assert cfg.DATASET.ROOT == str(tmp_path / "df2")
    assert cfg.MODEL.PRETRAINED == str(tmp_path / "w.pth")
    with pytest.raises(ConfigError) as e:
        check_paths(cfg, ["root", "pretrained", "model_file", "bbox_file"])
    msg = str(e.value)
    for key in ("DATASET.ROOT", "MODEL.PRETRAINED", "TEST.MODEL_FILE", "TEST.COCO_BBOX_FILE"):
        assert key in msg
    (tmp_path / "df2").mkdir()
    check_paths(cfg, ["root"])  # present now: no error


EXPERIMENTS = sorted((__import__("pathlib").Path(__file__).parents[2] / "experiments").rglob("*.yaml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.name for p in EXPERIMENTS])
def test_committed_experiment_files_load(path):
    cfg = load_config(path)
    assert cfg.MODEL.NUM_JOINTS == {"deepfashion2": 294, "deepfashion2-mmpose": 294,
                                    "deepfashion2-agg81": 81,
                                    "fashionai": 24}[cfg.DATASET.SCHEME.split("-cat")[0]] or \
        cfg.DATASET.SCHEME.startswith("fashionai-")
