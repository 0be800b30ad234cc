"""The device side of the data path: targets and input made batched equal the per-sample ones."""
import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from clothpose.config import load_config
from clothpose.data import build_dataset
from clothpose.data.augment import to_input
from clothpose.data.batch import BatchPreparer, InputSpec, heatmap_targets, normalize_images
from clothpose.data.targets import gaussian_targets, udp_targets


def _keypoints(rng, n, k, image_size):
    """x, y inside, on the border and outside the input; visibility 0/1."""
    w, h = image_size
    xy = np.column_stack([rng.uniform(-0.2 * w, 1.2 * w, n * k),
                          rng.uniform(-0.2 * h, 1.2 * h, n * k)])
    xy[: 2 * k: 7] = [0.0, 0.0]                                   # exact corners and edges
    xy[1: 2 * k: 11] = [w - 1, h - 1]
    vis = (rng.random(n * k) < 0.7).astype(np.float32)
    return np.column_stack([xy, vis]).astype(np.float32).reshape(n, k, 3)


@pytest.mark.parametrize("k", [81, 294])
@pytest.mark.parametrize("udp", [False, True])
@pytest.mark.parametrize("sigma", [1.5, 2.0, 3.0])
def test_device_targets_equal_the_per_sample_encoders_bit_for_bit(k, udp, sigma):
    spec = InputSpec((384, 512), (96, 128), sigma, udp)
    encode = udp_targets if udp else gaussian_targets
    kps = _keypoints(np.random.default_rng(k + int(10 * sigma) + udp), 4, k, spec.image_size)
    target, weight = heatmap_targets(torch.from_numpy(kps), spec)
    assert target.shape == (4, k, 128, 96) and target.dtype == torch.float32
    assert weight.shape == (4, k, 1)
    for i in range(4):
        ref_t, ref_w = encode(kps[i, :, :2], kps[i, :, 2], spec.image_size, spec.heatmap_size,
                              sigma)
        np.testing.assert_array_equal(target[i].numpy(), ref_t)
        np.testing.assert_array_equal(weight[i].numpy(), ref_w)
    assert 0 < int((weight > 0).sum()) < weight.numel()              # both cases present


def test_target_weight_switch_and_empty_batch():
    spec = InputSpec((64, 64), (16, 16), 2.0, use_target_weight=False)
    kps = np.array([[[10.0, 10.0, 1.0], [500.0, 5.0, 1.0], [30.0, 30.0, 0.0]]], np.float32)
    target, weight = heatmap_targets(kps, spec)
    assert weight.flatten().tolist() == [1.0, 1.0, 1.0]   # every weight 1, as HRNet's switch
    ref, _ = gaussian_targets(kps[0, :, :2], kps[0, :, 2], (64, 64), (16, 16), 2.0)
    np.testing.assert_array_equal(target[0].numpy(), ref)   # still nothing drawn for 2 and 3
    none = np.zeros((2, 3, 3), np.float32)
    t, w = heatmap_targets(none, spec)
    assert t.shape == (2, 3, 16, 16) and not t.any()


@pytest.mark.parametrize("rgb", [False, True])
def test_normalisation_equals_to_input_bit_for_bit(rgb):
    rng = np.random.default_rng(rgb)
    crops = rng.integers(0, 256, (3, 40, 30, 3), dtype=np.uint8)
    mean, std = (100.0, 117.5, 131.25), (40.0, 55.5, 61.0)
    spec = InputSpec((30, 40), (15, 20), color_rgb=rgb, pixel_mean=mean, pixel_std=std)
    got = normalize_images(torch.from_numpy(crops), spec)
    assert got.shape == (3, 3, 40, 30) and got.is_contiguous()
    for i in range(3):
        fed = cv2.cvtColor(crops[i], cv2.COLOR_BGR2RGB) if rgb else crops[i]
        np.testing.assert_array_equal(got[i].numpy(), to_input(fed, mean=mean, std=std))
    cl = normalize_images(torch.from_numpy(crops), spec, channels_last=True)
    assert cl.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(cl, got)
    with pytest.raises(ValueError, match="uint8"):
        normalize_images(got, spec)


def test_colour_jitter_on_the_device_matches_to_input():
    rng = np.random.default_rng(5)
    crops = rng.integers(0, 256, (3, 24, 20, 3), dtype=np.uint8)
    jitter = np.array([[1.2, 0.8, 1.3], [1.0, 1.0, 1.0], [0.7, 1.25, 1.0]], np.float32)
    spec = InputSpec((20, 24), (10, 12))
    got = normalize_images(torch.from_numpy(crops), spec, torch.from_numpy(jitter))
    for i in range(3):
        ref = to_input(crops[i], tuple(float(v) for v in jitter[i]))
        # float32 image means are summed in another order than numpy's: last-bit differences
        np.testing.assert_allclose(got[i].numpy(), ref, rtol=0, atol=2e-5)
    np.testing.assert_array_equal(got[1].numpy(), to_input(crops[1]))   # (1, 1, 1): untouched


def _ds(root, *opts, is_train=True):
    cfg = load_config(None, ["DATASET.ROOT", str(root), "DATASET.SCHEME", "deepfashion2-agg81",
                             "MODEL.IMAGE_SIZE", "[96, 128]", "MODEL.HEATMAP_SIZE", "[24, 32]",
                             "DATASET.COLOR_RGB", "True", "DATASET.PROB_HALF_BODY", "0.5",
                             "DATASET.PIXEL_MEAN", "[90, 100, 110]", *opts])
    return build_dataset(cfg, "train" if is_train else "validation", is_train=is_train)


@pytest.mark.parametrize("udp", [False, True])
def test_dataset_batches_equal_the_per_sample_definitions(synthetic_df2, udp):
    """Worker output -> BatchPreparer = per-sample to_input on the crop and the encoder on the
    shipped keypoints (the dataset's own settings reach the device side)."""
    ds = _ds(synthetic_df2.root, "DATASET.USE_UDP", str(udp), "MODEL.SIGMA", "1.5")
    samples = [ds[i] for i in range(4)]
    batch = ds.batch_preparer("cpu")(default_collate(samples))
    encode = udp_targets if udp else gaussian_targets
    for i, (crop, kps, _meta) in enumerate(samples):
        assert crop.dtype == torch.uint8 and crop.shape == (128, 96, 3)
        x = to_input(cv2.cvtColor(crop.numpy(), cv2.COLOR_BGR2RGB), mean=[90, 100, 110],
                     std=ds.pixel_std)
        np.testing.assert_array_equal(batch.inputs[i].numpy(), x)
        t, w = encode(kps[:, :2].numpy(), kps[:, 2].numpy(), (96, 128), (24, 32), 1.5)
        np.testing.assert_array_equal(batch.target[i].numpy(), t)
        np.testing.assert_array_equal(batch.target_weight[i].numpy(), w)
        assert torch.equal(batch.images[i], crop)


def test_a_sample_ships_under_0_7_mb_at_512x384_with_294_channels(synthetic_df2):
    """What crosses the DataLoader's process boundary per sample: the uint8 crop, K x 3
    keypoints and the meta (the float input alone was 2.4 MB, the 294 targets 14.5 MB)."""
    ds = _ds(synthetic_df2.root, "DATASET.SCHEME", "deepfashion2", "MODEL.IMAGE_SIZE",
             "[384, 512]", "MODEL.HEATMAP_SIZE", "[96, 128]")
    crop, kps, meta = ds[0]
    arrays = [crop, kps] + [v for v in meta.values() if isinstance(v, (np.ndarray, torch.Tensor))]
    nbytes = sum(a.nbytes for a in arrays)
    assert crop.nbytes == 512 * 384 * 3 and kps.shape == (294, 3)
    assert nbytes < 0.7e6


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_pinned_non_blocking_batches_equal_the_cpu_ones(synthetic_df2):
    ds = _ds(synthetic_df2.root, "SEED", "3")
    loader = DataLoader(ds, batch_size=4, num_workers=0, pin_memory=True)
    gpu = ds.batch_preparer("cuda", channels_last=True, reuse_buffers=True)
    cpu = ds.batch_preparer("cpu")
    for _, raw in zip(range(2), loader):
        assert raw[0].is_pinned() and raw[1].is_pinned()
        g, c = gpu(raw), cpu(raw)
        assert g.inputs.is_cuda and g.inputs.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(g.inputs.cpu(), c.inputs)
        assert torch.equal(g.target.cpu(), c.target)
        assert torch.equal(g.target_weight.cpu(), c.target_weight)


def test_preparer_without_targets_for_testing(synthetic_df2):
    ds = _ds(synthetic_df2.root, "TEST.USE_GT_BBOX", "True", is_train=False)
    prep = ds.batch_preparer("cpu")
    assert isinstance(prep, BatchPreparer) and not prep.targets      # test set: input only
    b = prep(default_collate([ds[0], ds[1]]))
    assert b.target is None and b.inputs.shape == (2, 3, 128, 96)


@pytest.mark.parametrize("udp", [False, True])
def test_reused_buffers_give_fresh_results_batch_after_batch(udp):
    """With ``reuse_buffers`` the next batch overwrites the same storage, and clearing only
    the cells the previous batch wrote leaves exactly the freshly computed targets."""
    spec = InputSpec((48, 64), (12, 16), 2.0, udp, color_rgb=True)
    rng = np.random.default_rng(11)
    reused, fresh = BatchPreparer(spec, reuse_buffers=True), BatchPreparer(spec)
    storage = set()
    for _ in range(4):
        crops = torch.from_numpy(rng.integers(0, 256, (3, 64, 48, 3), dtype=np.uint8))
        kps = torch.from_numpy(_keypoints(rng, 3, 20, spec.image_size))
        a, b = reused((crops, kps, {})), fresh((crops, kps, {}))
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.target, b.target)
        assert torch.equal(a.target_weight, b.target_weight)
        storage.add((a.inputs.data_ptr(), a.target.data_ptr()))
    assert len(storage) == 1                        # one input and one target buffer, reused
    small = reused((crops[:1], kps[:1], {}))        # a smaller last batch gets its own buffers
    assert torch.equal(small.target, fresh((crops[:1], kps[:1], {})).target)
