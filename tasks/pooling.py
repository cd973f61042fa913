"""A max pool whose forward pass on a CPU runs in channels_last.

PyTorch's max-pool kernel for NCHW tensors on a CPU is several times slower than its channels_last one (a 3x3/2
pool of a [128, 64, 24, 24] batch: 27 ms against 6 ms with both layout conversions, one thread), and a step of
cifar1, mnist1 or mnist2 spends a sixth to a quarter of its time there. The two kernels pick the same maximum in
each window (the first, ties included), so the output and the argmax indices are the same; the backward pass
scatters the gradient through those indices with the NCHW kernel. Outputs and gradients are bitwise
``nn.MaxPool2d``'s (tests/test_pooling.py), so trials made before and after score alike.
``bench/pool_speed.py`` measures it.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.utils import _pair


class _PoolInChannelsLast(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, kernel, stride, padding, dilation, ceil_mode):
        out, indices = torch.ops.aten.max_pool2d_with_indices(x.contiguous(memory_format=torch.channels_last),
                                                              kernel, stride, padding, dilation, ceil_mode)
        indices = indices.contiguous()
        ctx.save_for_backward(x, indices)
        ctx.settings = (kernel, stride, padding, dilation, ceil_mode)
        return out.contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, indices = ctx.saved_tensors
        grad_x = torch.ops.aten.max_pool2d_with_indices_backward(grad.contiguous(), x, *ctx.settings, indices)
        return grad_x, None, None, None, None, None


class MaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d``, bitwise, with its forward pass on a CPU done in channels_last (see the module's note).
    Elsewhere (a GPU, a tensor already in channels_last) it is nn.MaxPool2d itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or x.dim() != 4 or self.return_indices or not x.is_contiguous():
            return super().forward(x)
        stride = self.stride if self.stride is not None else self.kernel_size
        return _PoolInChannelsLast.apply(x, _pair(self.kernel_size), _pair(stride), _pair(self.padding),
                                         _pair(self.dilation), self.ceil_mode)
