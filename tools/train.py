"""Train a keypoint model from an experiment file.

    python tools/train.py --cfg experiments/deepfashion2/<exp>.yaml [KEY VALUE ...]
    torchrun --nproc_per_node 2 tools/train.py --cfg ...      # DistributedDataParallel

Runs go to OUTPUT_DIR/<dataset>/<model>/<experiment>/ (checkpoint.pth every epoch, model_best.pth,
final_state.pth, results/, train.log); TensorBoard logs to LOG_DIR/.
"""
from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from clothpose.config import check_paths, load_config
from clothpose.core.checkpoint import (load_training_state, restore_optimizer,
                                       save_training_state, save_weights)
from clothpose.core.debug import debug_images, save_debug_images
from clothpose.core.function import train_one_epoch
from clothpose.core.loss import build_loss
from clothpose.core.optim import build_optimizer, build_scheduler, configure_cudnn, seed_everything
from clothpose.core.testing import validate
from clothpose.data import build_dataset
from clothpose.models import build_model, init_from_checkpoint
from clothpose.utils.cli import default_argument_parser, opts_from_args, parse_with_opts
from clothpose.utils.dist import all_reduce_mean, barrier, cleanup, init_distributed
from clothpose.utils.paths import setup_run

logger = logging.getLogger("clothpose.train")


def parse_args(argv=None):
    p = default_argument_parser("Train a clothes-landmark model")
    p.add_argument("--seed", type=int, default=None, help="seed every RNG (overrides SEED)")
    return parse_with_opts(p, argv)


def build_train_loader(cfg, dataset, info):
    sampler = DistributedSampler(dataset, shuffle=cfg.TRAIN.SHUFFLE) if info.distributed else None
    return DataLoader(dataset, batch_size=cfg.TRAIN.BATCH_SIZE_PER_GPU,
                      shuffle=cfg.TRAIN.SHUFFLE and sampler is None, sampler=sampler,
                      num_workers=cfg.WORKERS, pin_memory=cfg.PIN_MEMORY and info.device.type == "cuda",
                      drop_last=len(dataset) > cfg.TRAIN.BATCH_SIZE_PER_GPU * info.world_size)
    # Workers are not persistent: each epoch's workers are seeded from the torch RNG, which
    # checkpoint.pth restores, so a resumed run sees the same augmentations.


def prepare_model(cfg, info):
    model = build_model(cfg, is_train=True)
    if cfg.TRAIN.INIT_FROM:
        init_from_checkpoint(model, cfg.TRAIN.INIT_FROM)
    model = model.to(info.device)
    if cfg.TRAIN.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
    if info.distributed:
        ids = [info.device.index] if info.device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return model


@dataclass
class Training:
    """Everything one training run holds between epochs."""

    model: torch.nn.Module
    train_set: Any
    valid_set: Any
    loader: DataLoader
    criterion: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    scaler: Any
    writer: Any
    begin: int = 0
    best_perf: float = -math.inf


def setup_training(cfg, info, dirs) -> Training:
    """Model, data, optimisation objects, TensorBoard writer; resumes ``checkpoint.pth``."""
    model = prepare_model(cfg, info)
    train_set = build_dataset(cfg, cfg.DATASET.TRAIN_SET, is_train=True)
    valid_set = build_dataset(cfg, cfg.DATASET.TEST_SET, is_train=False) if cfg.TRAIN.VAL_FREQ else None
    if len(train_set) == 0:
        raise SystemExit(f"no training samples in {train_set.ann_file} for categories "
                         f"{list(cfg.DATASET.CATEGORIES) or 'all'}")
    optimizer = build_optimizer(cfg, model)
    t = Training(model, train_set, valid_set, build_train_loader(cfg, train_set, info),
                 build_loss(cfg).to(info.device), optimizer, build_scheduler(cfg, optimizer),
                 torch.amp.GradScaler("cuda") if cfg.TRAIN.AMP and info.device.type == "cuda" else None,
                 None, cfg.TRAIN.BEGIN_EPOCH)
    if cfg.TRAIN.INIT_FROM and cfg.TRAIN.INIT_OPTIMIZER:  # the winner's finetune_from
        restore_optimizer(t.optimizer, cfg.TRAIN.INIT_FROM)
    elif cfg.TRAIN.INIT_OPTIMIZER:
        logger.warning("TRAIN.INIT_OPTIMIZER is set but TRAIN.INIT_FROM is empty: nothing restored")
    logger.info("train: %d samples, valid: %s boxes, device %s x %d", len(train_set),
                len(valid_set) if valid_set is not None else "-", info.device, info.world_size)
    ckpt_path = dirs.output / "checkpoint.pth"
    if cfg.AUTO_RESUME and ckpt_path.exists():
        ckpt = load_training_state(ckpt_path, t.model, t.optimizer, t.scheduler, t.scaler)
        t.begin, t.best_perf = int(ckpt["epoch"]), float(ckpt["best_perf"])
        logger.info("resumed from %s at epoch %d (best AP %.4f)", ckpt_path, t.begin, t.best_perf)
    else:
        for _ in range(t.begin):
            t.scheduler.step()
    if info.is_main:
        from tensorboardX import SummaryWriter
        t.writer = SummaryWriter(logdir=str(dirs.tensorboard))
    return t


def run_epoch(cfg, info, dirs, t: Training, epoch: int) -> tuple[float, float, float]:
    """Train one epoch; returns (mean loss over ranks, accuracy, learning rate used)."""
    if isinstance(t.loader.sampler, DistributedSampler):
        t.loader.sampler.set_epoch(epoch)
    t.train_set.set_epoch(epoch)
    steps = len(t.loader) if cfg.TRAIN.MAX_ITERS_PER_EPOCH <= 0 else \
        min(len(t.loader), cfg.TRAIN.MAX_ITERS_PER_EPOCH)
    hook = None
    if cfg.DEBUG.DEBUG and info.is_main:
        hook = lambda x, tg, o, step: save_debug_images(  # noqa: E731
            cfg, debug_images(x, tg, o, cfg.DATASET.COLOR_RGB), dirs.output / "debug",
            f"train_epoch{epoch}", t.writer, step)
    lr = t.optimizer.param_groups[0]["lr"]
    stats = train_one_epoch(t.model, t.loader, t.criterion, t.optimizer, info.device, epoch,
                            scaler=t.scaler, amp=cfg.TRAIN.AMP, channels_last=cfg.TRAIN.CHANNELS_LAST,
                            max_iters=cfg.TRAIN.MAX_ITERS_PER_EPOCH, print_freq=cfg.PRINT_FREQ,
                            writer=t.writer, global_step=epoch * steps,
                            show_progress=info.is_main, debug_hook=hook)
    loss = all_reduce_mean(stats.loss, info.device)
    logger.info("epoch %d: loss %.6f acc %.3f lr %.2e (%.1f samples/s)", epoch, loss,
                stats.accuracy, lr, stats.samples_per_second)
    t.scheduler.step()
    return loss, stats.accuracy, lr


def end_epoch(cfg, info, dirs, t: Training, epoch: int, loss: float, acc: float, lr: float) -> None:
    """Validate when due, log scalars, write model_best.pth and checkpoint.pth (rank 0)."""
    perf = -math.inf
    if t.valid_set is not None and ((epoch + 1) % cfg.TRAIN.VAL_FREQ == 0
                                    or epoch + 1 == cfg.TRAIN.END_EPOCH):
        perf = validate(cfg, t.model, t.valid_set, info, dirs.output / "results", f"epoch{epoch}")["AP"]
    if t.writer is not None:
        for name, value in (("epoch/loss", loss), ("epoch/accuracy", acc), ("epoch/lr", lr),
                            ("valid/AP", perf)):
            if value > -math.inf:
                t.writer.add_scalar(name, value, epoch)
    is_best = perf > t.best_perf
    t.best_perf = max(t.best_perf, perf)
    if info.is_main:
        if is_best or not (dirs.output / "model_best.pth").exists():
            save_weights(t.model, dirs.output / "model_best.pth")
        save_training_state(dirs.output / "checkpoint.pth", epoch=epoch + 1, model=t.model,
                            optimizer=t.optimizer, scheduler=t.scheduler, perf=perf,
                            best_perf=t.best_perf, scaler=t.scaler,
                            extra={"model": cfg.MODEL.NAME, "scheme": cfg.DATASET.SCHEME})
    barrier()


def main(argv=None) -> int:
    args = parse_args(argv)
    opts = opts_from_args(args) + (["SEED", str(args.seed)] if args.seed is not None else [])
    cfg = load_config(args.cfg, opts)
    info = init_distributed(cfg.DEVICE)
    dirs = setup_run(cfg, "train", info.rank)
    check_paths(cfg, ["root", "pretrained", "init_from"]
                + ([] if cfg.TEST.USE_GT_BBOX else ["bbox_file"]))
    seed_everything(cfg.SEED, info.rank)
    configure_cudnn(cfg)
    t = setup_training(cfg, info, dirs)
    for epoch in range(t.begin, cfg.TRAIN.END_EPOCH):
        end_epoch(cfg, info, dirs, t, epoch, *run_epoch(cfg, info, dirs, t, epoch))
    if info.is_main:
        save_weights(t.model, dirs.output / "final_state.pth")
        logger.info("done: best AP %.4f; weights in %s", t.best_perf, dirs.output)
        t.writer.close()
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
