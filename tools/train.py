"""Train a keypoint model (or a garment detector) from an experiment file.

    python tools/train.py --cfg experiments/deepfashion2/<exp>.yaml [KEY VALUE ...]
    torchrun --nproc_per_node 2 tools/train.py --cfg ...      # DistributedDataParallel
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \
        --rdzv-id RUN tools/train.py --cfg ...                 # the same on every node

Runs go to OUTPUT_DIR/<dataset>/<model>/<experiment>/ (checkpoint.pth every epoch, model_best.pth,
final_state.pth, results/, train.log); TensorBoard logs to LOG_DIR/.
"""
from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler

from clothpose.config import check_paths, load_config
from clothpose.core.checkpoint import (load_training_state, restore_optimizer,
                                       save_training_state, save_weights)
from clothpose.core.debug import debug_images, save_debug_images
from clothpose.core.evaluators import evaluator_class
from clothpose.core.function import train_one_epoch
from clothpose.core.loss import build_loss
from clothpose.core.optim import (apply_schedule, build_optimizer, build_scheduler,
                                  configure_cudnn, seed_everything)
from clothpose.core.preflight import check_validation_set
from clothpose.core.scale import compile_model, convert_sync_batchnorm
from clothpose.core.testing import validate
from clothpose.data import build_dataset
from clothpose.data.batch import batch_preparer
from clothpose.errors import CheckpointError, InputError, TrainingError
from clothpose.models import build_model, init_from_checkpoint
from clothpose.utils.cli import default_argument_parser, opts_from_args, parse_with_opts, run_cli
from clothpose.utils.dist import all_reduce_mean, barrier, cleanup, init_distributed
from clothpose.utils.logging import setup_logger
from clothpose.utils.paths import (protect_run_folder, remove_stale_temporaries, run_dirs,
                                   setup_run)

logger = logging.getLogger("clothpose.train")
DROP_WARN_FRACTION = 0.1  # warn when drop_last skips at least this share of the training set


def build_parser():
    p = default_argument_parser(__doc__)
    p.add_argument("--seed", type=int, default=None, help="seed every RNG (overrides SEED)")
    return p


def parse_args(argv=None):
    return parse_with_opts(build_parser(), argv)


def skipped_by_drop_last(n: int, batch: int, world: int) -> int:
    """Samples an epoch never sees with ``drop_last``: each of ``world`` processes gets
    ceil(n / world) samples (DistributedSampler pads) and drops its last partial batch."""
    per_rank = -(-n // world)
    return min(n, (per_rank % batch) * world)


def build_train_loader(cfg, dataset, info):
    sampler = DistributedSampler(dataset, shuffle=cfg.TRAIN.SHUFFLE) if info.distributed else None
    batch = cfg.TRAIN.BATCH_SIZE_PER_GPU
    drop_last = len(dataset) > batch * info.world_size
    if drop_last:
        skipped = skipped_by_drop_last(len(dataset), batch, info.world_size)
        if skipped >= DROP_WARN_FRACTION * len(dataset):
            logger.warning("%d of the %d training samples (%.0f%%) are skipped every epoch: %d "
                           "process(es) x %d samples each, in batches of %d (the last partial "
                           "batch is dropped); pick a TRAIN.BATCH_SIZE_PER_GPU that divides %d",
                           skipped, len(dataset), 100 * skipped / len(dataset), info.world_size,
                           -(-len(dataset) // info.world_size), batch,
                           -(-len(dataset) // info.world_size))
    return DataLoader(dataset, batch_size=batch,
                      shuffle=cfg.TRAIN.SHUFFLE and sampler is None, sampler=sampler,
                      num_workers=cfg.WORKERS, pin_memory=cfg.PIN_MEMORY and info.device.type == "cuda",
                      drop_last=drop_last)
    # Workers are not persistent: each epoch's workers are seeded from the torch RNG, which
    # checkpoint.pth restores, so a resumed run sees the same augmentations.


def prepare_model(cfg, info):
    model = build_model(cfg, is_train=True)
    if cfg.TRAIN.INIT_FROM:
        init_from_checkpoint(model, cfg.TRAIN.INIT_FROM, cfg.MODEL.MIN_LOADED_FRACTION)
    model = model.to(info.device)
    if cfg.TRAIN.CHANNELS_LAST:
        model = model.to(memory_format=torch.channels_last)
    if cfg.TRAIN.SYNC_BN:
        model = convert_sync_batchnorm(model, info)
    if info.distributed:
        ids = [info.device.index] if info.device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    if cfg.TRAIN.COMPILE:
        model = compile_model(model, cfg.TRAIN.COMPILE_MODE)
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
    best_epoch: int = -1           # epoch whose weights model_best.pth holds (-1: none yet)
    pending_validation: bool = False  # checkpoint.pth was written, its validation not done


def load_datasets(cfg):
    """Training and validation sets, with every validation input checked (before epoch 1)."""
    train_set = build_dataset(cfg, cfg.DATASET.TRAIN_SET, is_train=True)
    if len(train_set) == 0:
        raise InputError(f"no training samples for categories "
                         f"{list(cfg.DATASET.CATEGORIES) or 'all'}; expected labelled instances",
                         file=train_set.ann_file, field="DATASET.TRAIN_SET")
    valid_set = None
    if cfg.TRAIN.VAL_FREQ:
        valid_set = build_dataset(cfg, cfg.DATASET.TEST_SET, is_train=False)
        check_validation_set(cfg, valid_set)
    return train_set, valid_set


def resume(cfg, t: Training, ckpt_path: Path) -> None:
    """Continue from ``checkpoint.pth``; config changes to the schedule are applied, not ignored."""
    ckpt = load_training_state(ckpt_path, t.model, t.optimizer, t.scheduler, t.scaler)
    t.begin, t.best_perf = int(ckpt["epoch"]), float(ckpt["best_perf"])
    t.best_epoch = int(ckpt.get("best_epoch", -1))
    t.pending_validation = bool(ckpt.get("pending_validation", False))
    if t.begin > cfg.TRAIN.END_EPOCH:
        raise CheckpointError(f"is at epoch {t.begin}, past TRAIN.END_EPOCH {cfg.TRAIN.END_EPOCH}"
                              "; resume with TRAIN.END_EPOCH >= that, or start a new run in "
                              "another folder", file=ckpt_path, field="epoch")
    changes = apply_schedule(cfg, t.optimizer, t.scheduler)
    for c in changes:
        logger.warning("resume: %s (config differs from the checkpoint): the new value applies "
                       "from epoch %d on", c, t.begin)
    if changes:
        logger.warning("resume: learning rate for epoch %d is %.3g", t.begin,
                       t.optimizer.param_groups[0]["lr"])
    logger.info("resumed from %s at epoch %d (best AP %.4f, model_best.pth holds epoch %s)",
                ckpt_path, t.begin, t.best_perf, t.best_epoch if t.best_epoch >= 0 else "-")


def setup_training(cfg, info, dirs, train_set, valid_set) -> Training:
    """Model, loader, optimisation objects, TensorBoard writer; resumes ``checkpoint.pth``."""
    model = prepare_model(cfg, info)
    optimizer = build_optimizer(cfg, model)
    t = Training(model, train_set, valid_set, build_train_loader(cfg, train_set, info),
                 build_loss(cfg).to(info.device), optimizer, build_scheduler(cfg, optimizer),
                 torch.amp.GradScaler("cuda") if cfg.TRAIN.AMP and info.device.type == "cuda" else None,
                 None, cfg.TRAIN.BEGIN_EPOCH)
    if cfg.TRAIN.INIT_FROM and cfg.TRAIN.INIT_OPTIMIZER:  # the winner's finetune_from
        restore_optimizer(t.optimizer, cfg.TRAIN.INIT_FROM)
    elif cfg.TRAIN.INIT_OPTIMIZER:
        logger.warning("TRAIN.INIT_OPTIMIZER is set but TRAIN.INIT_FROM is empty: nothing restored")
    logger.info("train: %d samples, valid: %s boxes, device %s x %d, batch %d x %d processes x "
                "%d accumulation steps = %d per optimizer step", len(train_set),
                len(valid_set) if valid_set is not None else "-", info.device, info.world_size,
                cfg.TRAIN.BATCH_SIZE_PER_GPU, info.world_size, cfg.TRAIN.ACCUM_STEPS,
                cfg.TRAIN.BATCH_SIZE_PER_GPU * info.world_size * cfg.TRAIN.ACCUM_STEPS)
    ckpt_path = dirs.output / "checkpoint.pth"
    if cfg.AUTO_RESUME and ckpt_path.exists():
        resume(cfg, t, ckpt_path)
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
    task = evaluator_class(cfg)
    hook = None
    if cfg.DEBUG.DEBUG and info.is_main and task.debug_pictures:
        hook = lambda batch, o, step: save_debug_images(  # noqa: E731
            cfg, debug_images(batch, o, cfg.DATASET.COLOR_RGB), dirs.output / "debug",
            f"train_epoch{epoch}", t.writer, step)
    lr = t.optimizer.param_groups[0]["lr"]
    prepare = batch_preparer(t.train_set, info.device, cfg.TRAIN.CHANNELS_LAST,
                             reuse_buffers=True)
    try:
        stats = train_one_epoch(t.model, t.loader, t.criterion, t.optimizer, info.device, epoch,
                                prepare=prepare, accum_steps=cfg.TRAIN.ACCUM_STEPS,
                                scaler=t.scaler, amp=cfg.TRAIN.AMP,
                                channels_last=cfg.TRAIN.CHANNELS_LAST,
                                max_iters=cfg.TRAIN.MAX_ITERS_PER_EPOCH,
                                print_freq=cfg.PRINT_FREQ, writer=t.writer,
                                global_step=epoch * steps, show_progress=info.is_main,
                                debug_hook=hook, accuracy=task.train_accuracy)
    except TrainingError as e:
        kept = dirs.output / "checkpoint.pth"
        state = f"{kept} keeps the state before epoch {epoch}" if kept.exists() else \
            "no checkpoint was written yet"
        raise TrainingError(f"{e.detail} (lr {lr:.3g}); {state}; lower TRAIN.LR or check the "
                            "data, then resume with AUTO_RESUME True") from e
    loss = all_reduce_mean(stats.loss, info.device)
    logger.info("epoch %d: loss %.6f acc %.3f lr %.2e (%.1f samples/s)", epoch, loss,
                stats.accuracy, lr, stats.samples_per_second)
    t.scheduler.step()
    return loss, stats.accuracy, lr


def save_checkpoint(cfg, info, dirs, t: Training, next_epoch: int, perf: float) -> None:
    if info.is_main:
        save_training_state(dirs.output / "checkpoint.pth", epoch=next_epoch, model=t.model,
                            optimizer=t.optimizer, scheduler=t.scheduler, perf=perf,
                            best_perf=t.best_perf, scaler=t.scaler,
                            extra={"model": cfg.MODEL.NAME, "scheme": cfg.DATASET.SCHEME,
                                   "best_epoch": t.best_epoch,
                                   "pending_validation": t.pending_validation})
    barrier()


def validation_due(cfg, t: Training, epoch: int) -> bool:
    return t.valid_set is not None and ((epoch + 1) % cfg.TRAIN.VAL_FREQ == 0
                                        or epoch + 1 == cfg.TRAIN.END_EPOCH)


def record_epoch(cfg, info, dirs, t: Training, epoch: int, perf: float | None) -> None:
    """Update ``model_best.pth`` after ``epoch``: ties go to the later epoch (an all-zero AP
    run ends with its last weights, not its first), a run without validation keeps its latest
    weights there, and the log says which epoch the file holds."""
    if perf is not None:
        better = perf >= t.best_perf  # NaN is never better
    else:
        better = t.valid_set is None or not (dirs.output / "model_best.pth").exists()
    if better:
        if perf is not None:
            t.best_perf = perf
        t.best_epoch = epoch
        if info.is_main:
            save_weights(t.model, dirs.output / "model_best.pth")
    shown = f"{t.best_perf:.4f}" if t.best_perf > -math.inf else "not validated"
    logger.info("model_best.pth holds epoch %d (AP %s)", t.best_epoch, shown)


def end_epoch(cfg, info, dirs, t: Training, epoch: int, loss: float, acc: float, lr: float) -> None:
    """checkpoint.pth first (the epoch's training is safe whatever validation meets), then
    validation when due, model_best.pth, scalars, and checkpoint.pth again with the result."""
    due = validation_due(cfg, t, epoch)
    t.pending_validation = due
    save_checkpoint(cfg, info, dirs, t, epoch + 1, -math.inf)
    if due:
        validate_epoch(cfg, info, dirs, t, epoch)
    else:
        record_epoch(cfg, info, dirs, t, epoch, None)
    if t.writer is not None:
        for name, value in (("epoch/loss", loss), ("epoch/accuracy", acc), ("epoch/lr", lr)):
            t.writer.add_scalar(name, value, epoch)


def validate_epoch(cfg, info, dirs, t: Training, epoch: int) -> None:
    """Validate the weights after ``epoch`` (also a resumed run's pending validation)."""
    perf = validate(cfg, t.model, t.valid_set, info, dirs.output / "results", f"epoch{epoch}")["AP"]
    if t.writer is not None and perf > -math.inf:
        t.writer.add_scalar("valid/AP", perf, epoch)
    record_epoch(cfg, info, dirs, t, epoch, perf)
    t.pending_validation = False
    save_checkpoint(cfg, info, dirs, t, epoch + 1, perf)


def check_inputs(cfg) -> None:
    """Files the run needs, checked by every process before anything is created."""
    check_paths(cfg, ["root", "pretrained", "init_from"]
                + (evaluator_class(cfg).input_paths(cfg) if cfg.TRAIN.VAL_FREQ else []))


def main(argv=None) -> int:
    args = parse_args(argv)
    opts = opts_from_args(args) + (["SEED", str(args.seed)] if args.seed is not None else [])
    cfg = load_config(args.cfg, opts)
    check_inputs(cfg)
    info = init_distributed(cfg.DEVICE)
    setup_logger(None, rank=info.rank)
    output = run_dirs(cfg, "train").output
    protect_run_folder(output, cfg.AUTO_RESUME and (output / "checkpoint.pth").exists())
    train_set, valid_set = load_datasets(cfg)
    dirs = setup_run(cfg, "train", info.rank)
    if info.is_main:
        remove_stale_temporaries(dirs.output)
    seed_everything(cfg.SEED, info.rank)
    configure_cudnn(cfg)
    t = setup_training(cfg, info, dirs, train_set, valid_set)
    if t.pending_validation:  # killed (or failed) while validating: finish that first
        logger.info("validating epoch %d, which the interrupted run had not finished", t.begin - 1)
        validate_epoch(cfg, info, dirs, t, t.begin - 1)
    for epoch in range(t.begin, cfg.TRAIN.END_EPOCH):
        end_epoch(cfg, info, dirs, t, epoch, *run_epoch(cfg, info, dirs, t, epoch))
    if info.is_main:
        save_weights(t.model, dirs.output / "final_state.pth")
        logger.info("done: best AP %.4f (epoch %d, model_best.pth); final weights in %s",
                    t.best_perf, t.best_epoch, dirs.output)
        t.writer.close()
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(run_cli(main))
