import pytest
import torch
from torch import nn

from benchmark.errors import ConfigError
from predictors import FORECASTERS, create_forecaster, list_forecasters
from predictors.introspection import SCALE, WeightsError, load_net, save_net, shipped_weights
from tests.jumping import train_and_jump


def history_of(fn, fractions, n=7):
    """Rows fn(x) at x = fractions and 1.0 (x in units of t), for n weights with different coefficients."""
    xs = list(fractions) + [1.0]
    return torch.stack([fn(torch.tensor(x, dtype=torch.float64), torch.arange(n, dtype=torch.float64)) for x in xs])


def test_quadratic_reproduces_a_quadratic_exactly():
    f = create_forecaster("quadratic", ratio=1.5)
    poly = lambda x, i: 0.3 - 0.2 * i * x + (0.05 + i) * x**2  # noqa: E731
    got = f.forecast(history_of(poly, f.fractions))
    assert torch.allclose(got, poly(torch.tensor(1.5, dtype=torch.float64), torch.arange(7.0, dtype=torch.float64)),
                          atol=1e-12)


def test_linear_fit_reproduces_a_line_exactly():
    f = create_forecaster("linear_fit", ratio=1.075)
    line = lambda x, i: 1.0 + i * 0.01 - 0.5 * x  # noqa: E731
    got = f.forecast(history_of(line, f.fractions))
    assert torch.allclose(got, line(torch.tensor(1.075, dtype=torch.float64), torch.arange(7.0, dtype=torch.float64)))


@pytest.mark.parametrize("ratio,base", [(1.3, 0.7), (2.0, 0.7), (1.5, 0.4), (3.0, 0.9), (1.01, 0.1)])
def test_extrapolate_continues_the_line(ratio, base):
    f = create_forecaster("extrapolate", ratio=ratio, base=base)
    line = lambda x, i: -0.2 + (i - 3) * 0.7 * x  # noqa: E731
    got = f.forecast(history_of(line, f.fractions))
    assert torch.allclose(got, line(torch.tensor(ratio, dtype=torch.float64), torch.arange(7.0, dtype=torch.float64)))


def test_extrapolate_default_is_one_more_step_since_0_7t():
    f = create_forecaster("extrapolate")
    w7, wt = torch.tensor([1.0, 2.0]), torch.tensor([1.5, 1.0])
    assert torch.allclose(f.forecast(torch.stack([w7, wt])), wt + (wt - w7))


@pytest.mark.parametrize("name,params", [("extrapolate", {}), ("extrapolate", {"ratio": 2.0}), ("quadratic", {}),
                                         ("linear_fit", {})])
def test_constant_history_is_left_alone(name, params):
    f = create_forecaster(name, **params)
    h = torch.full((len(f.fractions) + 1, 5), 0.25, dtype=torch.float64)
    assert torch.allclose(f.forecast(h), h[-1])


@pytest.mark.parametrize("params,field", [({"ratio": 1.0}, "ratio"), ({"ratio": 0.5}, "ratio"),
                                          ({"base": 0.0}, "base"), ({"base": 1.0}, "base"), ({"base": 1.5}, "base")])
def test_extrapolate_bad_parameters(params, field):
    with pytest.raises(ConfigError, match=f"^{field}: "):
        create_forecaster("extrapolate", **params)


def test_noise_with_zero_std_changes_nothing():
    h = torch.randn(1, 100)
    assert torch.equal(create_forecaster("noise", std=0.0).forecast(h), h[-1])
    moved = create_forecaster("noise", std=0.1).forecast(h, generator=torch.Generator().manual_seed(0))
    assert 0.05 < (moved - h[-1]).std() < 0.15


def test_none_never_jumps():
    assert create_forecaster("none").jumps is False


def test_introspection_forward_matches_hand_computation():
    f = create_forecaster("introspection")
    sd = {k: v.double() for k, v in f.net.state_dict().items()}
    w0, w4, w7, wt = 0.011, 0.013, 0.0125, 0.02
    x = torch.tensor([wt, w7, w4, w0], dtype=torch.float64) * SCALE
    hidden = torch.clamp(sd["fc1.weight"] @ x + sd["fc1.bias"], min=0)
    expected = float((sd["fc2.weight"] @ hidden + sd["fc2.bias"])[0]) / SCALE
    got = f.forecast(torch.tensor([[w0], [w4], [w7], [wt]]))
    assert abs(float(got[0]) - expected) < 1e-6


def test_introspection_slices_a_long_history_exactly_as_the_net_computes_it():
    # A CPU history longer than the hidden layer's slice goes through the sliced path with its reused buffer;
    # every weight, the ragged last slice included, must equal the net applied to it directly.
    f = create_forecaster("introspection")
    n = 2 * f.hidden_slice + 17
    torch.manual_seed(0)
    history = torch.randn(4, n) * 0.05
    expected = f.net(history.flip(0).t() * SCALE) / SCALE
    got = f.forecast(history)
    assert got.shape == (n,)
    assert torch.allclose(got, expected, atol=1e-6, rtol=1e-5)


def test_linear_introspection_has_no_relu():
    f = create_forecaster("introspection_linear")
    assert f.net.linear
    h = torch.randn(4, 10) * 0.01
    # A net with no non-linearity is affine: f(a) + f(b) - f(0) == f(a + b)
    zero = torch.zeros(4, 10)
    assert torch.allclose(f.forecast(h) + f.forecast(-h) - f.forecast(zero), f.forecast(zero), atol=1e-6)


@pytest.mark.parametrize("linear", [False, True])
def test_shipped_weights_carry_recipe_and_losses(linear):
    net, meta = load_net(shipped_weights(linear))
    assert meta["recipe"]["k"] == 2.0 and meta["recipe"]["examples"] == 800_000
    assert meta["recipe"]["train_steps"] == 30_000 and meta["recipe"]["linear"] is linear
    assert set(meta["losses"]) >= {"train_l1_x1000", "val_l1_x1000"}


def test_missing_and_malformed_weights(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        create_forecaster("introspection", weights=str(tmp_path / "nope.safetensors"))
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00\x01not safetensors")
    with pytest.raises(WeightsError, match="malformed"):
        create_forecaster("introspection", weights=str(junk))
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"fc1.weight": torch.zeros(3, 3)}, str(wrong))
    with pytest.raises(WeightsError, match=r"fc1.weight should be \(40, 4\)"):
        create_forecaster("introspection", weights=str(wrong))


def test_saved_net_round_trips(tmp_path):
    from predictors.introspection import IntrospectionNet

    net = IntrospectionNet()
    save_net(net, tmp_path / "n.safetensors", {"recipe": {"k": 2.2}})
    f = create_forecaster("introspection", weights=str(tmp_path / "n.safetensors"))
    assert f.horizon == 2.2
    assert torch.equal(f.net.fc1.weight, net.fc1.weight)


def test_a_summary_names_shipped_weights_portably_and_hashes_every_file(tmp_path):
    import hashlib

    # a shipped file by its name, never this checkout's path; another by the path it was given
    shipped = create_forecaster("introspection").params()
    k22 = create_forecaster("introspection", weights="introspection_k2.2").params()
    assert (shipped["weights"], shipped["k"]) == ("introspection", 2.0)
    assert (k22["weights"], k22["k"]) == ("introspection_k2.2", 2.2)
    assert shipped["weights_sha256"] == hashlib.sha256(shipped_weights(False).read_bytes()).hexdigest()[:16]
    save_net(load_net(shipped_weights(False))[0], tmp_path / "mine.safetensors", {"recipe": {"k": 2.0}})
    mine = create_forecaster("introspection", weights=str(tmp_path / "mine.safetensors")).params()
    assert mine["weights"] == str(tmp_path / "mine.safetensors")
    assert mine["weights_sha256"] not in (shipped["weights_sha256"], k22["weights_sha256"])  # the metadata differs


class Small(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 5)
        self.bn = nn.BatchNorm1d(5)
        self.out = nn.Linear(5, 3)

    def forward(self, x):
        return self.out(torch.relu(self.bn(self.fc(x))))


def _train_with(forecaster, seed=0):
    torch.manual_seed(0)
    model = Small()
    x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
    return train_and_jump(forecaster, model, x, y, [10, 15], 20, seed=seed)


@pytest.mark.parametrize("name", [n for n in list_forecasters() if n != "none"])
def test_every_forecaster_jumps_finitely_and_deterministically(name):
    a, ea = _train_with(create_forecaster(name))
    b, _ = _train_with(create_forecaster(name))
    assert [e["step"] for e in ea.events] == [10, 15]
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.isfinite(pa).all()
        assert torch.equal(pa, pb)
    assert all(torch.isfinite(torch.tensor(e["mean_abs_change"])) for e in ea.events)


def test_registry_lists_the_paper_forecasters_and_the_control():
    assert {"none", "introspection", "introspection_linear", "quadratic", "linear_fit", "noise",
            "extrapolate"} <= set(list_forecasters())
    assert all(FORECASTERS.get(n).summary for n in list_forecasters())
