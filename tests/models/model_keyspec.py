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
               blocks: int = 4, multi_scale: bool = False) -> Shapes:
    """Official pose_hrnet layout for STAGE{2,3,4} widths[:2], [:3], [:4] of BASIC blocks.

    ``multi_scale``: the HRNetV2 trunk (classification / detection): the last module keeps
    every fuse row, and there is no ``final_layer``."""
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
            rows = 1 if (s == 4 and m == n_modules - 1 and not multi_scale) else len(cur)
            for i in range(rows):
                for j in range(len(cur)):
                    f = f"{p}.fuse_layers.{i}.{j}"
                    if j > i:
                        keys |= conv(f"{f}.0", cur[i], cur[j], 1) | bn(f"{f}.1", cur[i])
                    for d in range(i - j):
                        out = cur[i] if d == i - j - 1 else cur[j]
                        keys |= conv(f"{f}.{d}.0", out, cur[j], 3) | bn(f"{f}.{d}.1", out)
        pre = cur
    if multi_scale:
        return keys
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


def mmpose_topdown_res_keys(depth: int, num_keypoints: int,
                            deconv: tuple[int, ...] = (256, 256, 256), head: str = "head") -> Shapes:
    """mmpose TopdownPoseEstimator(ResNet, HeatmapHead), from mmpose's naming rules.

    * ``backbone``: mmpose's ResNet names its stem ``conv1`` + ``bn1`` (mmcv's build_norm_layer
      names a BatchNorm ``bn`` + postfix), its stages ``layer1..4``, each block ``conv1..3`` /
      ``bn1..3`` and ResLayer's shortcut ``downsample`` = Sequential(conv, norm): torchvision's
      names, without ``fc``.
    * ``head``: HeatmapHead's ``deconv_layers`` = Sequential of (ConvTranspose2d without bias,
      BatchNorm2d, ReLU) per deconv, ``conv_layers`` = Identity (no tensors) by default and
      ``final_layer`` = Conv2d(kernel 1) with bias. mmpose 0.x used ``keypoint_head``.
    """
    keys: Shapes = {f"backbone.{k}": v for k, v in resnet_keys(depth).items()
                    if not k.startswith("fc.")}
    c = 2048 if depth >= 50 else 512
    for i, planes in enumerate(deconv):
        keys[f"{head}.deconv_layers.{3 * i}.weight"] = (c, planes, 4, 4)
        keys |= bn(f"{head}.deconv_layers.{3 * i + 1}", planes)
        c = planes
    return keys | conv(f"{head}.final_layer", num_keypoints, c, 1, bias=True)


def gathierry_cpn_keys(depth: int, num_keypoints: int) -> Shapes:
    """The FashionAI reference CPN (gathierry, src/stage2/cascade_pyramid_network.py).

    * ``global_net``: the torchvision ResNet's conv1, bn1, layer1..4 (assigned from the ImageNet
      model), ``latlayer1..4`` = 1x1 convs with bias from C5, C4, C3, C2 to 256, ``toplayer1..2``
      = 3x3 256 -> 256 after the P4 / P3 merges, ``toplayer3`` = 3x3 256 -> K after P2's.
    * ``refine_net``: ``bottleneck2`` = one Bottleneck(K, 64) whose projection is called
      ``shortcut`` (Sequential(conv, bn)); ``bottleneck3/4/5`` = Sequential of 1 / 2 / 3
      Bottleneck(256, 64) and a ConvTranspose2d(256, 256, 2f, stride f) with bias (f = 2, 4, 8);
      ``output`` = Sequential(Bottleneck(1024, 64) with a shortcut, Conv2d(256, K, 1) with bias).
    """
    keys: Shapes = {f"global_net.{k}": v for k, v in resnet_keys(depth).items()
                    if not k.startswith("fc.")}
    for i, c in enumerate((2048, 1024, 512, 256), start=1):
        keys |= conv(f"global_net.latlayer{i}", 256, c, 1, bias=True)
    keys |= conv("global_net.toplayer1", 256, 256, 3, bias=True)
    keys |= conv("global_net.toplayer2", 256, 256, 3, bias=True)
    keys |= conv("global_net.toplayer3", num_keypoints, 256, 3, bias=True)

    def bottleneck(prefix: str, c_in: int) -> Shapes:
        out, _ = block(prefix, "BOTTLENECK", c_in, 64, project=c_in != 256)
        return {k.replace(".downsample.", ".shortcut."): v for k, v in out.items()}

    keys |= bottleneck("refine_net.bottleneck2", num_keypoints)
    for level, n in ((3, 1), (4, 2), (5, 3)):
        for j in range(n):
            keys |= bottleneck(f"refine_net.bottleneck{level}.{j}", 256)
        f = 2 ** (level - 2)
        keys |= {f"refine_net.bottleneck{level}.{n}.weight": (256, 256, 2 * f, 2 * f),
                 f"refine_net.bottleneck{level}.{n}.bias": (256,)}
    keys |= bottleneck("refine_net.output.0", 1024)
    return keys | conv("refine_net.output.1", num_keypoints, 256, 1, bias=True)
