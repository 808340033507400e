"""Models (reference-spec §3). Every model returns ``(logits, features)``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from fal.config.datasets import DatasetSpec

if TYPE_CHECKING:  # annotations only
    from fal.federated.flconfig import ModelExtension


def _conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(out_channels, track_running_stats=True),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class CNN4Conv(nn.Module):
    """The 4-layer CNN of FairFAL and LoGo (§3.1): 4 × [conv3×3(64), BN, ReLU, maxpool 2], linear head.

    The embedding is 64-d at 28 px and 256-d at 32 px. The head's bias starts at zero.
    """

    def __init__(self, in_channels: int, num_classes: int, image_size: int, hidden: int = 64):
        super().__init__()
        size = image_size
        for _ in range(4):
            size //= 2
        if size < 1:
            raise ValueError(f"image size {image_size} is too small for 4 max-pool stages")
        self.embedding_dim = hidden * size * size
        self.features = nn.Sequential(
            _conv_block(in_channels, hidden),
            _conv_block(hidden, hidden),
            _conv_block(hidden, hidden),
            _conv_block(hidden, hidden),
        )
        self.linear = nn.Linear(self.embedding_dim, num_classes)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x).flatten(1)
        return self.linear(features), features


class _SeparableBlock(nn.Module):
    """Depthwise 3×3 (stride, no bias) → BN → ReLU → pointwise 1×1 (no bias) → BN → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, 3, stride=stride, padding=1, groups=in_channels, bias=False
        )
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.bn1(self.depthwise(x)))
        return torch.relu(self.bn2(self.pointwise(x)))


class MobileNet(nn.Module):
    """MobileNet for 28/32 px images (§3.2, FairFAL Table 9): stem conv 3×3 (32), 13 separable blocks,
    2×2 average pool, 1024-d embedding, linear head with zero bias."""

    BLOCKS = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, 512, 512, (1024, 2), 1024)

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU())
        blocks, channels = [], 32
        for entry in self.BLOCKS:
            out, stride = entry if isinstance(entry, tuple) else (entry, 1)
            blocks.append(_SeparableBlock(channels, out, stride))
            channels = out
        self.blocks = nn.Sequential(*blocks)
        self.embedding_dim = 1024
        self.linear = nn.Linear(1024, num_classes)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.blocks(self.stem(x))
        features = nn.functional.avg_pool2d(x, 2).flatten(1)
        return self.linear(features), features


class _BasicBlock(nn.Module):
    """conv3×3 → BN → ReLU → conv3×3 → BN, plus the shortcut, then ReLU: relu(branch + shortcut). The
    shortcut is the identity, or a 1×1 conv (+ BN with ``shortcut_bn``; KAFAL's ResNet-8 has none) when
    the shape changes.
    """

    def __init__(self, in_planes: int, planes: int, stride: int, shortcut_bn: bool = True):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = None
        if stride != 1 or in_planes != planes:
            layers: list[nn.Module] = [nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)]
            if shortcut_bn:
                layers.append(nn.BatchNorm2d(planes))
            self.shortcut = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        identity = x if self.shortcut is None else self.shortcut(x)
        return torch.relu(out + identity)


class ResNet18(nn.Module):
    """CIFAR-style ResNet-18 (§3.3, FairFAL Table 9): 3×3 stem without max-pool, stages of 2 basic blocks
    (64, 128, 256, 512; strides 1, 2, 2, 2), global average pool, 512-d embedding.

    Kaiming-normal (fan_out) convolutions, BN weight 1 and bias 0, the last BN of every residual branch
    zero (``zero_init_residual``), linear bias zero.
    """

    def __init__(self, in_channels: int, num_classes: int, blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        layers, planes_in = [], 64
        for planes, count, stride in zip((64, 128, 256, 512), blocks, (1, 2, 2, 2)):
            for i in range(count):
                layers.append(_BasicBlock(planes_in, planes, stride if i == 0 else 1))
                planes_in = planes
        self.layers = nn.Sequential(*layers)
        self.embedding_dim = 512
        self.linear = nn.Linear(512, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, _BasicBlock):
                nn.init.zeros_(module.bn2.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.layers(self.stem(x)).mean(dim=(2, 3))
        return self.linear(features), features


class KafalResNet8(nn.Module):
    """KAFAL's "ResNet-8" (§3.4, KA:models/preact_resnet.py:preact_resnet8_cifar): stem conv 3×3 (16),
    three residual basic blocks (16, 32, 64; strides 1, 2, 2; relu(branch + shortcut), the shortcut the
    identity in stage 1 and a 1×1 stride-2 conv without BN in stages 2 and 3), then BN, ReLU, global
    average pool (the official AvgPool(8) at 32 px), 64-d embedding, linear head with PyTorch's default
    init.

    Convolutions start from N(0, 2/(k·k·out_channels)); BN weight 1, bias 0.
    """

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        self.stem = nn.Conv2d(in_channels, 16, 3, padding=1, bias=False)
        self.layers = nn.Sequential(
            _BasicBlock(16, 16, 1, shortcut_bn=False),
            _BasicBlock(16, 32, 2, shortcut_bn=False),
            _BasicBlock(32, 64, 2, shortcut_bn=False),
        )
        self.bn = nn.BatchNorm2d(64)
        self.embedding_dim = 64
        self.linear = nn.Linear(64, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0.0, (2.0 / fan) ** 0.5)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.relu(self.bn(self.layers(self.stem(x))))
        features = x.mean(dim=(2, 3))
        return self.linear(features), features


class MNIST2NN(nn.Module):
    """McMahan et al.'s "MNIST 2NN" (KAFAL Fig. 11): the image flattened, two fully connected layers of
    200 units with ReLU, a linear head; 199,210 parameters on 28 × 28 × 1. The embedding is the second
    hidden layer (200-d)."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int, hidden: int = 200):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_channels * image_size * image_size, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )
        self.embedding_dim = hidden
        self.linear = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.hidden(x)
        return self.linear(features), features


class ResNet50(nn.Module):
    """torchvision's ResNet-50 (He et al.), the backbone of KAFAL's Table 4 on NIH ChestX-ray14, with
    its ImageNet stem (7×7 stride-2 convolution and max-pool): the chest X-rays are 224 px, the input
    that stem was designed for (the CIFAR-style 3×3 stem suits 32 px). No pretrained weights (KAFAL says
    none). The first convolution takes the dataset's channels (1 for the X-rays); the embedding is the
    2048-d global-average-pooled output of the last stage."""

    def __init__(self, in_channels: int, num_classes: int):
        super().__init__()
        from torchvision.models import resnet50

        self.net = resnet50(weights=None, num_classes=num_classes)
        if in_channels != 3:
            self.net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(self.net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.linear = self.net.fc
        self.embedding_dim = self.linear.in_features

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.net
        x = net.maxpool(net.relu(net.bn1(net.conv1(x))))
        x = net.layer4(net.layer3(net.layer2(net.layer1(x))))
        features = torch.flatten(net.avgpool(x), 1)
        return self.linear(features), features


def build_model(name: str, spec: DatasetSpec, init_seed: int, device: torch.device | str = "cpu") -> nn.Module:
    """A freshly initialised model whose weights depend only on ``init_seed``.

    PyTorch's default initialisers read the global RNG; ``fork_rng`` confines that to this call, so no
    global state leaks out. Weights are kept channels-last (see fal.data.images).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)
        model: nn.Module
        if name == "cnn4conv":
            model = CNN4Conv(spec.channels, spec.num_classes, spec.image_size)
        elif name == "mobilenet":
            model = MobileNet(spec.channels, spec.num_classes)
        elif name == "resnet18":
            model = ResNet18(spec.channels, spec.num_classes)
        elif name == "kafal_resnet8":
            model = KafalResNet8(spec.channels, spec.num_classes)
        elif name == "mnist_2nn":
            model = MNIST2NN(spec.channels, spec.num_classes, spec.image_size)
        elif name == "resnet50":
            model = ResNet50(spec.channels, spec.num_classes)
        else:
            raise ValueError(f"unknown model {name!r}")
    return model.to(device).to(memory_format=torch.channels_last)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build_cycle_model(
    name: str, spec: DatasetSpec, init_seed: int, device: Any, extension: ModelExtension | None
) -> nn.Module:
    """The protocol's backbone from ``init_seed``, with the extension's module attached (the one builder of
    the training and query stages)."""
    model = build_model(name, spec, init_seed, device)
    return model if extension is None else extension.attach(model, init_seed)
