"""deltanet: the richer learned forecaster (per-layer normalised deltas, layer kind and horizon as inputs)."""

import pytest
import torch
from torch import nn

from benchmark.errors import ConfigError
from predictors import create_forecaster
from predictors.deltanet import FEATURES, FRACTIONS, KINDS, DeltaNet, features, layer_kind, save_deltanet
from predictors.introspection import WeightsError, shipped_weights
from predictors.training import PipelineConfig, deltanet_pairs, reference_l1
from tests.jumping import train_and_jump


def extrapolating_net(ratio: float) -> DeltaNet:
    """A deltanet whose output is (r - 1) / 0.3 x -(w_0.7t - w_t) / s: the extrapolate control's forecast, as
    relu(z) - relu(-z) passes a linear function through the ReLUs exactly."""
    net = DeltaNet()
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        first, second, out = net.body[0], net.body[2], net.body[4]
        d07 = FRACTIONS.index(0.7)
        first.weight[0, d07], first.weight[1, d07] = 1.0, -1.0
        second.weight[0, 0], second.weight[1, 1] = 1.0, 1.0
        c = -(ratio - 1) / 0.3
        out.weight[0, 0], out.weight[0, 1] = c, -c
    return net


def test_a_net_computing_the_line_forecasts_exactly_what_extrapolate_does(tmp_path):
    """Normalising each layer by its own scale and undoing it on the way out loses nothing: on layers whose
    scales differ by 10^6, the forecast equals extrapolate's."""
    path = tmp_path / "line.safetensors"
    save_deltanet(extrapolating_net(1.5), path, {"trained_on": []})
    net = create_forecaster("deltanet", ratio=1.5, weights=str(path))
    line = create_forecaster("extrapolate", ratio=1.5)
    gen = torch.Generator().manual_seed(0)
    for scale in (1e-6, 1.0):
        h = torch.randn(len(FRACTIONS) + 1, 50, generator=gen, dtype=torch.float64) * scale
        got = net.forecast(h)
        want = line.forecast(h[[FRACTIONS.index(0.7), -1]])
        assert torch.allclose(got, want, rtol=1e-5, atol=1e-6 * scale)


def test_features_on_a_known_history():
    wt = torch.tensor([1.0, -1.0, 3.0], dtype=torch.float64)
    h = torch.stack([wt - 2 * (1 - f) for f in FRACTIONS] + [wt])  # every weight moved +2 per t, from w_0 = w_t - 2
    x = features(h, scale=2.0, magnitude=5 / 3, ratio=1.3, kind=KINDS.index("conv"), bias=True)
    assert x.shape == (3, FEATURES)
    assert torch.allclose(x[:, :len(FRACTIONS)], torch.tensor([[-(1 - f) for f in FRACTIONS]] * 3).float())
    assert torch.allclose(x[:, len(FRACTIONS)], (wt / (5 / 3)).float())  # where it sits in its layer
    assert torch.allclose(x[:, len(FRACTIONS) + 1], torch.full((3,), torch.log10(torch.tensor(1.2)).item()))
    assert torch.allclose(x[:, len(FRACTIONS) + 2], torch.full((3,), 0.3))  # the horizon r - 1
    assert x[:, len(FRACTIONS) + 3:].tolist() == [[0, 1, 0, 0, 1]] * 3  # conv, bias


@pytest.mark.parametrize("module,name,want", [("Linear", "fc.weight", ("linear", False)),
                                              ("Conv2d", "features.0.bias", ("conv", True)),
                                              ("BatchNorm2d", "bn.weight", ("norm", False)),
                                              ("LayerNorm", "ln.bias", ("norm", True)),
                                              ("Embedding", "emb.weight", ("other", False))])
def test_layer_kinds(module, name, want):
    kind, bias = layer_kind(module, name)
    assert (KINDS[kind], bias) == want


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 4 * 4, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.conv(x)).flatten(1))


def _jumped(forecaster, chunk_size):
    torch.manual_seed(0)
    model = Net()
    x, y = torch.randn(16, 1, 6, 6), torch.randint(0, 3, (16,))
    return train_and_jump(forecaster, model, x, y, [20], 20, chunk_size=chunk_size)


def test_the_engine_tells_a_layerwise_forecaster_each_whole_layer():
    """Each layer's statistics are the whole layer's, whatever the chunk: forecasts in chunks of 7 equal the
    forecast in one piece; and the engine names each parameter's module and kind."""
    f = create_forecaster("deltanet")
    seen = []
    context = f.layer_context
    f.layer_context = lambda *a: seen.append(a[2:]) or context(*a)
    a, engine = _jumped(f, chunk_size=7)
    b, _ = _jumped(create_forecaster("deltanet"), chunk_size=1 << 20)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-7)
    assert seen == [("Conv2d", "conv.weight"), ("Conv2d", "conv.bias"), ("Linear", "fc.weight"),
                    ("Linear", "fc.bias")]
    assert engine.events[0]["mean_abs_change"] > 0


def test_a_layer_that_never_moved_is_left_alone():
    f = create_forecaster("deltanet")
    h = torch.full((len(FRACTIONS) + 1, 4), 0.5)
    assert torch.equal(f.forecast(h), h[-1])


def test_shipped_weights_record_their_bank_and_held_out_measurements():
    f = create_forecaster("deltanet")
    assert f.trained_on and not set(f.trained_on) & {"mnist1", "mnist2", "mnist3", "mnist4", "fm16", "c10_16"}
    assert f.meta["recipe"]["forecaster"] == "deltanet"
    assert {"val_l1", "val_reference"} <= set(f.meta["losses"])


def test_bad_weights_and_parameters(tmp_path):
    with pytest.raises(WeightsError, match="deltanet weights not found"):
        create_forecaster("deltanet", weights=str(tmp_path / "none.safetensors"))
    with pytest.raises(WeightsError, match="holds no deltanet weights"):
        create_forecaster("deltanet", weights=str(shipped_weights(False)))
    with pytest.raises(ConfigError, match="^ratio: "):
        create_forecaster("deltanet", ratio=0.9)
    with pytest.raises(ConfigError, match="^forecaster: deltanet is trained on a trajectory bank"):
        PipelineConfig(forecaster="deltanet")
    with pytest.raises(ConfigError, match="^forecaster: trainable forecasters are"):
        PipelineConfig(forecaster="quadratic", bank=True)


def test_pairs_are_exact_recordings():
    pairs = deltanet_pairs(100, 10_000, (1.3, 2.0))
    assert (1000, 1.3) in pairs and (5000, 2.0) in pairs and (500, 2.0) not in pairs  # 0.7 x 500 is off the grid
    assert all(r * t <= 10_000 for t, r in pairs)


def test_reference_errors_on_known_examples():
    """On an exactly straight trajectory the extrapolate control is perfect and staying put is not."""
    r, wt = 1.5, torch.linspace(-1, 1, 9, dtype=torch.float64)
    h = torch.stack([wt - (1 - f) for f in FRACTIONS] + [wt])  # moves +1 per t
    x = features(h, scale=1.0, magnitude=float(wt.abs().mean()), ratio=r, kind=0, bias=False)
    y = torch.full((9,), r - 1).float()  # w_rt - w_t in units of s
    ref = reference_l1(x, y)
    assert ref["extrapolate"] < 1e-6 and abs(ref["stay"] - 0.5) < 1e-6
