"""Reference networks named as other code bases name them, written from their layout rules.

Plain torch modules, independent of ``clothpose.models``: a converted checkpoint of these must
load strictly into clothpose's model *and* compute the same heatmaps, which is what proves that
every renamed tensor landed in the layer that plays its role.

* ``MMPoseTopdown``: mmpose's TopdownPoseEstimator(ResNet, HeatmapHead) (see
  ``model_keyspec.mmpose_topdown_res_keys`` for the naming rules).
* ``GathierryCPN``: the FashionAI reference CascadePyramidNet (``gathierry_cpn_keys``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STAGES = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}


def _projection(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


class Block(nn.Module):
    """ResNet block; ``kind`` basic (two 3x3) or bottleneck (1x1, 3x3 with the stride, 1x1 x4)."""

    def __init__(self, kind: str, c_in: int, planes: int, stride: int = 1,
                 shortcut_name: str = "downsample") -> None:
        super().__init__()
        self.kind = kind
        c_out = planes * (4 if kind == "bottleneck" else 1)
        if kind == "basic":
            self.conv1 = nn.Conv2d(c_in, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
        else:
            self.conv1 = nn.Conv2d(c_in, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, c_out, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(c_out)
        self.shortcut_name = shortcut_name
        proj = _projection(c_in, c_out, stride) if (stride != 1 or c_in != c_out) else None
        setattr(self, shortcut_name, proj)
        self.c_out = c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        if self.kind == "basic":
            out = self.bn2(self.conv2(out))
        else:
            out = F.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
        proj = getattr(self, self.shortcut_name)
        return F.relu(out + (x if proj is None else proj(x)))


class ResNet(nn.Module):
    """Stem + four stages with torchvision's names; ``forward`` returns C2..C5."""

    def __init__(self, depth: int) -> None:
        super().__init__()
        kind, counts = STAGES[depth]
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        c = 64
        for i, (planes, n) in enumerate(zip((64, 128, 256, 512), counts), start=1):
            blocks = []
            for j in range(n):
                blocks.append(Block(kind, c, planes, 2 if (j == 0 and i > 1) else 1))
                c = blocks[-1].c_out
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.out_channels = c

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats, x = [], self.stem(x)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            feats.append(x)
        return feats


class HeatmapHead(nn.Module):
    def __init__(self, c_in: int, num_keypoints: int, deconv: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for planes in deconv:
            layers += [nn.ConvTranspose2d(c_in, planes, 4, 2, 1, 0, bias=False),
                       nn.BatchNorm2d(planes), nn.ReLU()]
            c_in = planes
        self.deconv_layers = nn.Sequential(*layers)
        self.conv_layers = nn.Identity()
        self.final_layer = nn.Conv2d(c_in, num_keypoints, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.final_layer(self.conv_layers(self.deconv_layers(x)))


class MMPoseTopdown(nn.Module):
    """``backbone`` + ``head`` (``keypoint_head`` for mmpose 0.x); heatmaps from C5."""

    def __init__(self, depth: int, num_keypoints: int, deconv: tuple[int, ...] = (256, 256, 256),
                 head: str = "head") -> None:
        super().__init__()
        self.backbone = ResNet(depth)
        self.head_name = head
        setattr(self, head, HeatmapHead(self.backbone.out_channels, num_keypoints, deconv))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, self.head_name)(self.backbone(x)[-1])


class GathierryGlobalNet(nn.Module):
    def __init__(self, depth: int, num_keypoints: int) -> None:
        super().__init__()
        r = ResNet(depth)  # the reference assigns an ImageNet ResNet's modules
        self.conv1, self.bn1 = r.conv1, r.bn1
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4
        self._resnet = [r]  # not a submodule: keys stay global_net.conv1, ...
        for i, c in enumerate((2048, 1024, 512, 256), start=1):
            setattr(self, f"latlayer{i}", nn.Conv2d(c, 256, 1))
        self.toplayer1 = nn.Conv2d(256, 256, 3, 1, 1)
        self.toplayer2 = nn.Conv2d(256, 256, 3, 1, 1)
        self.toplayer3 = nn.Conv2d(256, num_keypoints, 3, 1, 1)

    @staticmethod
    def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=False) + y

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c2, c3, c4, c5 = self._resnet[0](x)
        p5 = self.latlayer1(c5)
        p4 = self.toplayer1(self._upsample_add(p5, self.latlayer2(c4)))
        p3 = self.toplayer2(self._upsample_add(p4, self.latlayer3(c3)))
        p2 = self.toplayer3(self._upsample_add(p3, self.latlayer4(c2)))
        return p2, p3, p4, p5


class GathierryRefineNet(nn.Module):
    def __init__(self, num_keypoints: int) -> None:
        super().__init__()

        def bottleneck(c_in: int) -> Block:
            return Block("bottleneck", c_in, 64, shortcut_name="shortcut")

        def up(f: int) -> nn.ConvTranspose2d:
            return nn.ConvTranspose2d(256, 256, 2 * f, f, f // 2)

        self.bottleneck2 = bottleneck(num_keypoints)
        self.bottleneck3 = nn.Sequential(bottleneck(256), up(2))
        self.bottleneck4 = nn.Sequential(bottleneck(256), bottleneck(256), up(4))
        self.bottleneck5 = nn.Sequential(bottleneck(256), bottleneck(256), bottleneck(256), up(8))
        self.output = nn.Sequential(bottleneck(1024), nn.Conv2d(256, num_keypoints, 1))

    def forward(self, p2, p3, p4, p5) -> torch.Tensor:
        cat = torch.cat([self.bottleneck2(p2), self.bottleneck3(p3), self.bottleneck4(p4),
                         self.bottleneck5(p5)], dim=1)
        return self.output(cat)


class GathierryCPN(nn.Module):
    """Returns (global heatmaps P2, refined heatmaps) as the reference does."""

    def __init__(self, depth: int, num_keypoints: int) -> None:
        super().__init__()
        self.global_net = GathierryGlobalNet(depth, num_keypoints)
        self.refine_net = GathierryRefineNet(num_keypoints)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p2, p3, p4, p5 = self.global_net(x)
        return p2, self.refine_net(p2, p3, p4, p5)


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights, biases and BN statistics (so a swapped layer changes the output), eval."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                fan_in = m.weight[0].numel() if isinstance(m, nn.Conv2d) else \
                    m.weight.shape[0] * m.weight[0, 0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / fan_in) ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (), generator=g)))
    return model.eval()
