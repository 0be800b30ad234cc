"""Training at scale: gradient accumulation, torch.compile, SyncBatchNorm, wrapper-free weights."""
import copy
import logging

import numpy as np
import pytest
import torch
from torch import nn

from clothpose.core.checkpoint import unwrap
from clothpose.core.function import accumulation_group, train_one_epoch
from clothpose.core.loss import JointsMSELoss
from clothpose.core.scale import compile_model, convert_sync_batchnorm
from clothpose.data.batch import BatchPreparer, InputSpec
from clothpose.utils.dist import DistInfo

SPEC = InputSpec((32, 32), (8, 8), sigma=1.0)


def _net(bn: bool) -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 8, 3, padding=1, stride=2)]
    layers += [nn.BatchNorm2d(8)] if bn else []
    layers += [nn.ReLU(), nn.Conv2d(8, 5, 3, padding=1, stride=2)]
    return nn.Sequential(*layers)


def _batches(n, size, seed=0):
    """``n`` loader batches of ``size`` uint8 crops with 5 keypoints each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        crops = torch.from_numpy(rng.integers(0, 256, (size, 32, 32, 3), dtype=np.uint8))
        kps = np.concatenate([rng.uniform(2, 30, (size, 5, 2)), np.ones((size, 5, 1))], axis=2)
        out.append((crops, torch.from_numpy(kps.astype(np.float32)), {}))
    return out


def _train(model, batches, accum, opt="sgd"):
    model = copy.deepcopy(model)
    optim = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9) if opt == "sgd" else \
        torch.optim.Adam(model.parameters(), lr=1e-2)
    stats = train_one_epoch(model, batches, JointsMSELoss(), optim, torch.device("cpu"), 0,
                            prepare=BatchPreparer(SPEC), accum_steps=accum, print_freq=0,
                            show_progress=False)
    return model, stats


@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_accumulating_k_half_batches_equals_one_full_batch_step(opt):
    """Without BatchNorm, two optimizer steps over batches of 8 = the same two steps made of
    four accumulated batches of 4 (ACCUM_STEPS 2), to float rounding."""
    full = _batches(2, 8)
    halves = [(c[i:i + 4], k[i:i + 4], m) for c, k, m in full for i in (0, 4)]
    net = _net(bn=False)
    a, _ = _train(net, full, accum=1, opt=opt)
    b, stats = _train(net, halves, accum=2, opt=opt)
    assert stats.iterations == 4 and stats.samples == 16
    moved = 0.0
    for (name, pa), pb, p0 in zip(a.named_parameters(), b.parameters(), net.parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-6, msg=name)
        moved = max(moved, float((pa - p0).detach().abs().max()))
    assert moved > 1e-3                                   # the steps did change the weights
    c, _ = _train(net, halves, accum=1, opt=opt)          # four plain steps differ
    assert not all(torch.allclose(pc, pa, atol=1e-6) for pc, pa in zip(c.parameters(),
                                                                        a.parameters()))


def test_batchnorm_caveat_micro_batches_have_their_own_statistics():
    """With BatchNorm in training mode accumulation is not a bigger batch: each half batch is
    normalised with its own mean/variance (why the README recommends SYNC_BN / larger per-GPU
    batches over accumulation for BN models)."""
    full = _batches(1, 8)
    halves = [(c[i:i + 4], k[i:i + 4], m) for c, k, m in full for i in (0, 4)]
    net = _net(bn=True)
    a, _ = _train(net, full, accum=1)
    b, _ = _train(net, halves, accum=2)
    diff = max(float((pa - pb).abs().max()) for pa, pb in zip(a.parameters(), b.parameters()))
    assert diff > 1e-4


@pytest.mark.parametrize("n_iters, k, expected", [
    (4, 2, [(2, False), (2, True), (2, False), (2, True)]),
    (5, 2, [(2, False), (2, True), (2, False), (2, True), (1, True)]),   # short last group
    (3, 1, [(1, True)] * 3),
    (2, 4, [(2, False), (2, True)]),                                      # epoch < one group
])
def test_accumulation_groups_by_hand(n_iters, k, expected):
    assert [accumulation_group(i, n_iters, k) for i in range(1, n_iters + 1)] == expected


def test_short_last_group_is_a_mean_over_its_own_batches():
    """Three batches with ACCUM_STEPS 2 = a step on batches 1+2 (mean), then one on batch 3."""
    batches = _batches(3, 4, seed=1)
    net = _net(bn=False)
    ref = copy.deepcopy(net)
    optim = torch.optim.SGD(ref.parameters(), lr=0.5)
    merged = [(torch.cat([batches[0][0], batches[1][0]]), torch.cat([batches[0][1],
                                                                     batches[1][1]]), {}),
              batches[2]]
    train_one_epoch(ref, merged, JointsMSELoss(), optim, torch.device("cpu"), 0,
                    prepare=BatchPreparer(SPEC), print_freq=0, show_progress=False)
    model = copy.deepcopy(net)
    optim = torch.optim.SGD(model.parameters(), lr=0.5)
    train_one_epoch(model, batches, JointsMSELoss(), optim, torch.device("cpu"), 0,
                    prepare=BatchPreparer(SPEC), accum_steps=2, print_freq=0,
                    show_progress=False)
    for pa, pb in zip(ref.parameters(), model.parameters()):
        torch.testing.assert_close(pb, pa, rtol=1e-5, atol=1e-6)


def test_compiled_training_equals_eager_and_saves_plain_weights():
    """TRAIN.COMPILE: torch.compile (inductor, CPU here) trains to the eager weights and the
    saved state_dict has the plain keys an uncompiled model loads."""
    batches = _batches(2, 4, seed=2)
    net = _net(bn=True)
    eager, _ = _train(net, batches, accum=1)
    compiled = compile_model(copy.deepcopy(net))
    optim = torch.optim.SGD(compiled.parameters(), lr=0.5, momentum=0.9)
    train_one_epoch(compiled, batches, JointsMSELoss(), optim, torch.device("cpu"), 0,
                    prepare=BatchPreparer(SPEC), print_freq=0, show_progress=False)
    assert any(k.startswith("_orig_mod.") for k in compiled.state_dict())
    state = unwrap(compiled).state_dict()
    assert set(state) == set(net.state_dict())
    for k, v in eager.state_dict().items():
        torch.testing.assert_close(state[k].float(), v.float(), rtol=1e-4, atol=1e-5, msg=k)
    fresh = _net(bn=True)
    fresh.load_state_dict(state)


def test_sync_batchnorm_only_where_it_can_run(caplog):
    net = _net(bn=True)
    single = DistInfo(0, 1, 0, torch.device("cpu"))
    assert convert_sync_batchnorm(net, single) is net
    cpu_ddp = DistInfo(0, 2, 0, torch.device("cpu"))
    with caplog.at_level(logging.WARNING):
        assert convert_sync_batchnorm(net, cpu_ddp) is net     # gloo: SyncBatchNorm refuses CPU
    assert "GPUs only" in caplog.text
    # DDP on CUDA: every BatchNorm becomes a SyncBatchNorm holding the same parameters/buffers
    # (the conversion itself runs anywhere; running it needs GPUs and a process group)
    converted = convert_sync_batchnorm(copy.deepcopy(net), DistInfo(0, 2, 0,
                                                                    torch.device("cuda", 0)))
    kinds = [type(m) for m in converted.modules()]
    assert nn.SyncBatchNorm in kinds and nn.BatchNorm2d not in kinds
    for (ka, va), (kb, vb) in zip(net.state_dict().items(), converted.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_batches_of_float_tensors_train_as_before():
    """A dataset whose batches already hold float inputs and targets (no ``BatchPreparer``)
    goes through ``tensors_to_device`` and trains exactly like the uint8 path."""
    batches = _batches(2, 4, seed=3)
    prep = BatchPreparer(SPEC)
    floats = [(b.inputs, b.target, b.target_weight, {}) for b in map(prep, batches)]
    net = _net(bn=True)
    a, _ = _train(net, batches, accum=1)
    b = copy.deepcopy(net)
    optim = torch.optim.SGD(b.parameters(), lr=0.5, momentum=0.9)
    train_one_epoch(b, floats, JointsMSELoss(), optim, torch.device("cpu"), 0, print_freq=0,
                    show_progress=False)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
