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

import torch
from torch.utils.data import DataLoader, DistributedSampler

from clothpose.config import check_paths, load_config
from clothpose.core.checkpoint import load_training_state, save_training_state, save_weights
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


def main(argv=None) -> int:
    args = parse_args(argv)
    opts = opts_from_args(args) + (["SEED", str(args.seed)] if args.seed is not None else [])
    cfg = load_config(args.cfg, opts)
    info = init_distributed(cfg.DEVICE)
    dirs = setup_run(cfg, "train", info.rank)
    needs = ["root", "pretrained", "init_from"] + ([] if cfg.TEST.USE_GT_BBOX else ["bbox_file"])
    check_paths(cfg, needs)
    seed_everything(cfg.SEED, info.rank)
    configure_cudnn(cfg)

    model = prepare_model(cfg, info)
    train_set = build_dataset(cfg, cfg.DATASET.TRAIN_SET, is_train=True)
    valid_set = build_dataset(cfg, cfg.DATASET.TEST_SET, is_train=False) if cfg.TRAIN.VAL_FREQ else None
    if len(train_set) == 0:
        raise SystemExit(f"no training samples in {train_set.ann_file} for categories "
                         f"{list(cfg.DATASET.CATEGORIES) or 'all'}")
    loader = build_train_loader(cfg, train_set, info)
    criterion = build_loss(cfg).to(info.device)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer)
    scaler = torch.amp.GradScaler("cuda") if cfg.TRAIN.AMP and info.device.type == "cuda" else None
    logger.info("train: %d samples, valid: %s boxes, device %s x %d", len(train_set),
                len(valid_set) if valid_set is not None else "-", info.device, info.world_size)

    begin, best_perf = cfg.TRAIN.BEGIN_EPOCH, -math.inf
    ckpt_path = dirs.output / "checkpoint.pth"
    if cfg.AUTO_RESUME and ckpt_path.exists():
        ckpt = load_training_state(ckpt_path, model, optimizer, scheduler, scaler)
        begin, best_perf = int(ckpt["epoch"]), float(ckpt["best_perf"])
        logger.info("resumed from %s at epoch %d (best AP %.4f)", ckpt_path, begin, best_perf)
    else:
        for _ in range(begin):
            scheduler.step()

    writer = None
    if info.is_main:
        from tensorboardX import SummaryWriter
        writer = SummaryWriter(logdir=str(dirs.tensorboard))
    steps_per_epoch = len(loader) if cfg.TRAIN.MAX_ITERS_PER_EPOCH <= 0 else \
        min(len(loader), cfg.TRAIN.MAX_ITERS_PER_EPOCH)
    def debug_hook(epoch):
        if not (cfg.DEBUG.DEBUG and info.is_main):
            return None
        return lambda x, t, o, step: save_debug_images(
            cfg, debug_images(x, t, o, cfg.DATASET.COLOR_RGB), dirs.output / "debug",
            f"train_epoch{epoch}", writer, step)

    for epoch in range(begin, cfg.TRAIN.END_EPOCH):
        if isinstance(loader.sampler, DistributedSampler):
            loader.sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        stats = train_one_epoch(model, loader, criterion, optimizer, info.device, epoch,
                                scaler=scaler, amp=cfg.TRAIN.AMP, channels_last=cfg.TRAIN.CHANNELS_LAST,
                                max_iters=cfg.TRAIN.MAX_ITERS_PER_EPOCH, print_freq=cfg.PRINT_FREQ,
                                writer=writer, global_step=epoch * steps_per_epoch,
                                show_progress=info.is_main, debug_hook=debug_hook(epoch))
        loss = all_reduce_mean(stats.loss, info.device)
        logger.info("epoch %d: loss %.6f acc %.3f lr %.2e (%.1f samples/s)", epoch, loss,
                    stats.accuracy, optimizer.param_groups[0]["lr"], stats.samples_per_second)
        scheduler.step()
        perf = -math.inf
        if valid_set is not None and ((epoch + 1) % cfg.TRAIN.VAL_FREQ == 0
                                      or epoch + 1 == cfg.TRAIN.END_EPOCH):
            result = validate(cfg, model, valid_set, info, dirs.output / "results", f"epoch{epoch}")
            perf = result["AP"]
        if writer is not None:
            writer.add_scalar("epoch/loss", loss, epoch)
            writer.add_scalar("epoch/accuracy", stats.accuracy, epoch)
            writer.add_scalar("epoch/lr", optimizer.param_groups[0]["lr"], epoch)
            if perf > -math.inf:
                writer.add_scalar("valid/AP", perf, epoch)
        is_best = perf > best_perf
        best_perf = max(best_perf, perf)
        if info.is_main:
            if is_best or not (dirs.output / "model_best.pth").exists():
                save_weights(model, dirs.output / "model_best.pth")
            save_training_state(ckpt_path, epoch=epoch + 1, model=model, optimizer=optimizer,
                                scheduler=scheduler, perf=perf, best_perf=best_perf, scaler=scaler,
                                extra={"model": cfg.MODEL.NAME, "scheme": cfg.DATASET.SCHEME})
        barrier()
    if info.is_main:
        save_weights(model, dirs.output / "final_state.pth")
        logger.info("done: best AP %.4f; weights in %s", best_perf, dirs.output)
        if writer is not None:
            writer.close()
    cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
