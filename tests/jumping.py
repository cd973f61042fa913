"""A few SGD steps on one fixed batch with a jump engine attached: the jump's effect, without a task."""

import torch
from torch import nn

from benchmark.jumps import JumpEngine


def train_and_jump(forecaster, model: nn.Module, x: torch.Tensor, y: torch.Tensor, jumps, steps: int, **engine):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    hook = JumpEngine(forecaster, jumps, steps=steps, **engine)
    hook.on_start(model, opt)
    for step in range(1, steps + 1):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        hook.on_step(step, model, opt, evaluate=lambda phase: 0.0)
    return model, hook
