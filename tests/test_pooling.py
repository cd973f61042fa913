"""The CPU max pool: bitwise nn.MaxPool2d's outputs and gradients, ties included, in every setting the tasks use."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tasks.pooling import MaxPool2d


@pytest.mark.parametrize("settings", [dict(kernel_size=2, stride=2), dict(kernel_size=2, stride=2, ceil_mode=True),
                                      dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=3, stride=2)])
def test_the_cpu_max_pool_is_bitwise_nn_maxpool2d_forward_and_backward_ties_included(settings):
    gen = torch.Generator().manual_seed(0)
    # ties everywhere: ReLU zeros, as after a conv and ReLU, and values drawn from a handful of levels
    x = torch.randint(-2, 3, (4, 6, 13, 13), generator=gen).float().relu()
    x[0] = torch.randn(6, 13, 13, generator=gen)  # and one image with no ties at all
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    ours, theirs = MaxPool2d(**settings)(a), nn.MaxPool2d(**settings)(b)
    assert ours.shape == theirs.shape and torch.equal(ours, theirs) and ours.is_contiguous()
    upstream = torch.randn(theirs.shape, generator=gen)
    ours.backward(upstream)
    theirs.backward(upstream)
    assert torch.equal(a.grad, b.grad)
    assert (x[1:] == 0).float().mean() > 0.3  # the ties really were there


def test_the_cpu_max_pool_leaves_other_layouts_to_nn_maxpool2d():
    x = torch.randn(2, 3, 8, 8).contiguous(memory_format=torch.channels_last)
    assert torch.equal(MaxPool2d(2, 2)(x), F.max_pool2d(x, 2, 2))
    out, idx = MaxPool2d(2, 2, return_indices=True)(torch.randn(2, 3, 8, 8))
    assert idx.dtype == torch.int64 and out.shape == (2, 3, 4, 4)
