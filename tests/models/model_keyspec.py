"""Expected state_dict names and shapes, generated from the published architecture rules.

Written independently of clothpose.models (no imports from it) so that the tests compare the
implementation against the official layouts: HRNet-Human-Pose-Estimation ``pose_hrnet`` /
``pose_resnet`` and torchvision's ResNet.
"""
from __future__ import annotations

Shapes = dict[str, tuple[int, ...]]


def bn(prefix: str, c: int) -> Shapes:
    return {f"{prefix}.weight": (c,), f"{prefix}.bias": (c,), f"{prefix}.running_mean": (c,),
            f"{prefix}.running_var": (c,), f"{prefix}.num_batches_tracked": ()}


def conv(prefix: str, c_out: int, c_in: int, k: int, bias: bool = False) -> Shapes:
    out: Shapes = {f"{prefix}.weight": (c_out, c_in, k, k)}
    if bias:
        out[f"{prefix}.bias"] = (c_out,)
    return out


def block(prefix: str, kind: str, c_in: int, planes: int, project: bool) -> tuple[Shapes, int]:
    """BasicBlock (two 3x3) or Bottleneck (1x1, 3x3, 1x1 x4), optional downsample.0/.1."""
    keys: Shapes = {}
    if kind == "BASIC":
        c_out = planes
        keys |= conv(f"{prefix}.conv1", planes, c_in, 3) | bn(f"{prefix}.bn1", planes)
        keys |= conv(f"{prefix}.conv2", planes, planes, 3) | bn(f"{prefix}.bn2", planes)
    else:
        c_out = planes * 4
        keys |= conv(f"{prefix}.conv1", planes, c_in, 1) | bn(f"{prefix}.bn1", planes)
        keys |= conv(f"{prefix}.conv2", planes, planes, 3) | bn(f"{prefix}.bn2", planes)
        keys |= conv(f"{prefix}.conv3", c_out, planes, 1) | bn(f"{prefix}.bn3", c_out)
    if project:
        keys |= conv(f"{prefix}.downsample.0", c_out, c_in, 1) | bn(f"{prefix}.downsample.1", c_out)
    return keys, c_out


def layer(prefix: str, kind: str, c_in: int, planes: int, n: int, stride: int = 1
          ) -> tuple[Shapes, int]:
    keys: Shapes = {}
    expansion = 1 if kind == "BASIC" else 4
    for b in range(n):
        project = b == 0 and (stride != 1 or c_in != planes * expansion)
        k, c_in = block(f"{prefix}.{b}", kind, c_in, planes, project)
        keys |= k
    return keys, c_in


def hrnet_keys(widths: list[int], modules: tuple[int, int, int], num_joints: int,
               blocks: int = 4) -> Shapes:
    """Official pose_hrnet layout for STAGE{2,3,4} widths[:2], [:3], [:4] of BASIC blocks."""
    keys: Shapes = conv("conv1", 64, 3, 3) | bn("bn1", 64) | conv("conv2", 64, 64, 3) | bn("bn2", 64)
    k, c = layer("layer1", "BOTTLENECK", 64, 64, 4)
    keys |= k
    pre = [c]
    for s, n_modules in zip((2, 3, 4), modules):
        cur = widths[:s]
        t = f"transition{s - 1}"
        for i, ci in enumerate(cur):
            if i < len(pre):
                if ci != pre[i]:
                    keys |= conv(f"{t}.{i}.0", ci, pre[i], 3) | bn(f"{t}.{i}.1", ci)
                continue
            for d in range(i + 1 - len(pre)):
                out = ci if d == i - len(pre) else pre[-1]
                keys |= conv(f"{t}.{i}.{d}.0", out, pre[-1], 3) | bn(f"{t}.{i}.{d}.1", out)
        for m in range(n_modules):
            p = f"stage{s}.{m}"
            for br, ci in enumerate(cur):
                keys |= layer(f"{p}.branches.{br}", "BASIC", ci, ci, blocks)[0]
            rows = 1 if (s == 4 and m == n_modules - 1) else len(cur)
            for i in range(rows):
                for j in range(len(cur)):
                    f = f"{p}.fuse_layers.{i}.{j}"
                    if j > i:
                        keys |= conv(f"{f}.0", cur[i], cur[j], 1) | bn(f"{f}.1", cur[i])
                    for d in range(i - j):
                        out = cur[i] if d == i - j - 1 else cur[j]
                        keys |= conv(f"{f}.{d}.0", out, cur[j], 3) | bn(f"{f}.{d}.1", out)
        pre = cur
    return keys | conv("final_layer", num_joints, widths[0], 1, bias=True)


def resnet_keys(depth: int) -> Shapes:
    """torchvision ResNet layout including the ImageNet classifier ``fc``."""
    kind, counts = {18: ("BASIC", (2, 2, 2, 2)), 50: ("BOTTLENECK", (3, 4, 6, 3)),
                    101: ("BOTTLENECK", (3, 4, 23, 3))}[depth]
    keys: Shapes = conv("conv1", 64, 3, 7) | bn("bn1", 64)
    c = 64
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), start=1):
        k, c = layer(f"layer{i}", kind, c, planes, n, stride=1 if i == 1 else 2)
        keys |= k
    return keys | {"fc.weight": (1000, c), "fc.bias": (1000,)}


def num_params(keys: Shapes) -> int:
    """Learnable parameters: everything except BN running statistics and counters."""
    total = 0
    for name, shape in keys.items():
        if name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        n = 1
        for s in shape:
            n *= s
        total += n
    return total
