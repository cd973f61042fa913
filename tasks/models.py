"""The paper's networks, initialised as the paper (or its TF/Caffe source) did."""

from __future__ import annotations

import math

import torch
from torch import nn

from .pooling import MaxPool2d


def _init(module: nn.Module, weight_fn, bias: float | None = 0.0) -> nn.Module:
    weight_fn(module.weight)
    if module.bias is not None and bias is not None:
        nn.init.constant_(module.bias, bias)
    return module


def _trunc(std: float):
    return lambda w: nn.init.trunc_normal_(w, std=std, a=-2 * std, b=2 * std)


def _normal(std: float):
    return lambda w: nn.init.normal_(w, std=std)


def _caffe_xavier(w: torch.Tensor) -> None:
    # Caffe's "xavier" filler: uniform(-a, a) with a = sqrt(3 / fan_in).
    fan_in = w[0].numel()
    a = math.sqrt(3.0 / fan_in)
    nn.init.uniform_(w, -a, a)


class ConvDropoutFC(nn.Module):
    """Conv features, then fc -> ReLU -> dropout(0.5) -> fc: the shape of N0 and MNIST1 (TF tutorial nets)."""

    def __init__(self, features: nn.Sequential, flat: int, num_classes: int, std: float):
        super().__init__()
        t = _trunc(std)
        self.features = features
        self.fc1 = _init(nn.Linear(flat, 1024), t, 0.1)
        self.drop = nn.Dropout(0.5)
        self.fc2 = _init(nn.Linear(1024, num_classes), t, 0.1)

    def forward(self, x):
        x = self.features(x).flatten(1)
        return self.fc2(self.drop(torch.relu(self.fc1(x))))


class N0(ConvDropoutFC):
    """The network whose weight histories train the introspection net (paper 4.1)."""

    def __init__(self, num_classes: int = 10):
        t = _trunc(0.1)  # TF tutorial defaults: truncated normal 0.1, bias 0.1
        super().__init__(nn.Sequential(
            _init(nn.Conv2d(1, 8, 5, padding=2), t, 0.1), nn.ReLU(), MaxPool2d(2, 2, ceil_mode=True),
            _init(nn.Conv2d(8, 16, 5, padding=2), t, 0.1), nn.ReLU(), MaxPool2d(2, 2, ceil_mode=True),
            _init(nn.Conv2d(16, 32, 5, padding=2), t, 0.1), nn.ReLU(), MaxPool2d(2, 2, ceil_mode=True),
        ), 512, num_classes, 0.1)  # 28 -> 14 -> 7 -> 4 (SAME pooling); 4 * 4 * 32 = 512


class MNIST1(ConvDropoutFC):
    def __init__(self, num_classes: int = 10):
        t = _trunc(0.01)
        super().__init__(nn.Sequential(
            _init(nn.Conv2d(1, 32, 5, padding=2), t, 0.1), nn.ReLU(), MaxPool2d(2, 2),
            _init(nn.Conv2d(32, 64, 5, padding=2), t, 0.1), nn.ReLU(), MaxPool2d(2, 2),
        ), 3136, num_classes, 0.01)  # 28 -> 14 -> 7; 7 * 7 * 64 = 3136


class LeNet(nn.Module):
    """Caffe's LeNet (MNIST2)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            _init(nn.Conv2d(1, 20, 5), _caffe_xavier), MaxPool2d(2, 2),
            _init(nn.Conv2d(20, 50, 5), _caffe_xavier), MaxPool2d(2, 2),
        )  # 28 -> 24 -> 12 -> 8 -> 4; 4 * 4 * 50 = 800
        self.fc1 = _init(nn.Linear(800, 500), _caffe_xavier)
        self.fc2 = _init(nn.Linear(500, num_classes), _caffe_xavier)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(self.features(x).flatten(1))))


class MLP(nn.Module):
    """MNIST3: 784-256-256-10 with every weight and bias drawn from N(0, 1)."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        n = _normal(1.0)
        self.fc1 = _init(nn.Linear(784, 256), n, None)
        self.fc2 = _init(nn.Linear(256, 256), n, None)
        self.fc3 = _init(nn.Linear(256, num_classes), n, None)
        for layer in (self.fc1, self.fc2, self.fc3):
            nn.init.normal_(layer.bias, std=1.0)

    def forward(self, x):
        x = x.flatten(1)
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class RowLSTM(nn.Module):
    """MNIST4: an LSTM reads the 28 rows of the image; the last hidden state is classified."""

    def __init__(self, num_classes: int = 10, hidden: int = 128):
        super().__init__()
        self.lstm = nn.LSTM(28, hidden, batch_first=True)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x):
        out, _ = self.lstm(x.reshape(x.shape[0], 28, 28))
        return self.fc(out[:, -1])


class CIFAR1(nn.Module):
    """The TF CIFAR-10 tutorial network with batch norm after each conv, as the paper describes."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            _init(nn.Conv2d(3, 64, 5, padding=2), _normal(1e-4), 0.0), nn.BatchNorm2d(64), nn.ReLU(),
            MaxPool2d(3, 2, padding=1),
            _init(nn.Conv2d(64, 64, 5, padding=2), _normal(1e-4), 0.1), nn.BatchNorm2d(64), nn.ReLU(),
            MaxPool2d(3, 2, padding=1),
        )  # 24 -> 12 -> 6; 6 * 6 * 64 = 2304
        self.classifier = nn.Sequential(
            _init(nn.Linear(2304, 384), _normal(0.04), 0.1), nn.ReLU(),
            _init(nn.Linear(384, 192), _normal(0.04), 0.1), nn.ReLU(),
            _init(nn.Linear(192, num_classes), _normal(1 / 192.0), 0.0),
        )

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


class AlexNetLRN(nn.Module):
    """AlexNet as in Krizhevsky et al. 2012 (96-256-384-384-256), LRN after conv1 and conv2."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), MaxPool2d(3, 2),
            nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(inplace=True),
            nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=2.0), MaxPool2d(3, 2),
            nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
            MaxPool2d(3, 2),
        )
        self.pool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(256 * 36, 4096), nn.ReLU(inplace=True),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                _init(m, _normal(0.01 if isinstance(m, nn.Conv2d) else 0.005), 0.0)

    def forward(self, x):
        return self.classifier(self.pool(self.features(x)).flatten(1))


class NiNoCNN(nn.Module):
    """NiNo's small vision net: three 3x3 convs (the first stride 2, no padding; the next two 'same'), ReLU after
    each, global average pool, fc to the classes; PyTorch's default init."""

    def __init__(self, in_channels: int, channels: tuple[int, int, int], num_classes: int):
        super().__init__()
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, stride=2), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.fc = nn.Linear(c3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))
