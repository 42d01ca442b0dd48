"""Residual networks for CIFAR (He et al. 2016a, §4.2): the ResNet-(6n+2) family.

[Yu et al. 2017, §4.2] (Tables 1–2) trains ResNet-20/32/44/56/110 with
batch-norm on CIFAR-10/100.  The architecture (He et al. 2016a, "Deep Residual Learning
for Image Recognition", CIFAR section):

    conv3×3(3→16) → BN → ReLU
    3 stages of n basic blocks with 16, 32, 64 channels; the first block of stages 2 and 3
    halves H and W with stride 2
    global average pooling → Dense(64 → num_classes)

depth = 6n + 2.  A basic block is  ReLU(BN(conv3×3(ReLU(BN(conv3×3(x))))) + shortcut(x)).
The shortcut is the identity when the shape is kept; when it changes it is either a
1×1 convolution with stride 2 followed by BN (option "B", the default) or He et al.'s
parameter-free option "A" (subsample by 2 and pad the new channels with zeros).
Initialization follows He et al. (2015) as [Yu et al. 2017] states ("The weight initialization
is the same as He et al. (2015)"): conv weights N(0, 2/(k·k·out_channels)) (fan_out, as
fb.resnet.torch), BN γ = 1, β = 0; the Dense layer keeps PyTorch's default.
"""

from __future__ import annotations

from .. import functional as F
from . import init
from .batchnorm import BatchNorm2d
from .conv import Conv2d
from .dense import Dense
from .module import Module, Sequential
from .pooling import GlobalAvgPool2d


class BasicBlock(Module):
    """Two 3×3 convolutions with batch-norm and a shortcut (identity, or "A"/"B" on a change)."""

    def __init__(self, in_channels, out_channels, stride=1, shortcut="B", dtype=None):
        super().__init__()
        if shortcut not in ("A", "B"):
            raise ValueError(f"BasicBlock: shortcut must be 'A' (zero-pad) or 'B' (1×1 projection), "
                             f"got {shortcut!r}")
        if stride not in (1, 2):
            raise ValueError(f"BasicBlock: stride must be 1 or 2, got {stride!r}")
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride
        self.shortcut_type = shortcut
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, dtype=dtype)
        self.bn1 = BatchNorm2d(out_channels, dtype=dtype)
        self.conv2 = Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False, dtype=dtype)
        self.bn2 = BatchNorm2d(out_channels, dtype=dtype)
        self.projects = stride != 1 or in_channels != out_channels
        if self.projects and shortcut == "B":
            self.shortcut = Sequential(Conv2d(in_channels, out_channels, 1, stride=stride, bias=False,
                                              dtype=dtype),
                                       BatchNorm2d(out_channels, dtype=dtype))

    def _shortcut(self, x):
        if not self.projects:
            return x
        if self.shortcut_type == "B":
            return self.shortcut(x)
        # option A: keep every stride-th pixel, append zero channels (no parameters)
        s = self.stride
        x = F.getitem(x, (slice(None), slice(None), slice(None, None, s), slice(None, None, s)))
        extra = self.out_channels - self.in_channels
        return F.pad(x, ((0, 0), (extra // 2, extra - extra // 2), (0, 0), (0, 0)))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self._shortcut(x))


class CifarResNet(Module):
    """ResNet-(6n+2) for 32×32 images: ``CifarResNet(depth=20, num_classes=10)``."""

    def __init__(self, depth=20, num_classes=10, in_channels=3, widths=(16, 32, 64), shortcut="B",
                 dtype=None):
        super().__init__()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CifarResNet: depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110, …), "
                             f"got {depth!r}")
        n = (depth - 2) // 6
        self.depth, self.num_classes = depth, num_classes
        self.conv1 = Conv2d(in_channels, widths[0], 3, padding=1, bias=False, dtype=dtype)
        self.bn1 = BatchNorm2d(widths[0], dtype=dtype)
        blocks, c_in = [], widths[0]
        for stage, width in enumerate(widths):
            for b in range(n):
                stride = 2 if stage > 0 and b == 0 else 1
                blocks.append(BasicBlock(c_in, width, stride, shortcut, dtype))
                c_in = width
        self.layers = Sequential(*blocks)
        self.pool = GlobalAvgPool2d()
        self.fc = Dense(c_in, num_classes, dtype=dtype)
        self._he_init()

    def _he_init(self):
        """Conv weights ~ N(0, 2/(kh·kw·out)) (He et al. 2015, fan_out), drawn in model order."""
        for m in self.modules():
            if isinstance(m, Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = F.as_tensor(x)
        if x.ndim != 4 or x.shape[1] != self.conv1.in_channels:
            raise ValueError(f"{self.layer_name()}: expected input (N, {self.conv1.in_channels}, H, W), "
                             f"found shape {tuple(x.shape)}")
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layers(out)
        return self.fc(self.pool(out))


def _builder(depth):
    def build(num_classes=10, shortcut="B", dtype=None):
        return CifarResNet(depth, num_classes, shortcut=shortcut, dtype=dtype)
    build.__name__ = f"resnet{depth}"
    build.__doc__ = f"CIFAR ResNet-{depth} (n = {(depth - 2) // 6} blocks per stage), He et al. 2016a."
    return build


resnet20 = _builder(20)
resnet32 = _builder(32)
resnet44 = _builder(44)
resnet56 = _builder(56)
resnet110 = _builder(110)
