"""The built-in model families, initialisation, and the user builder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from automl.errors import SpecError
from automl.studyfile import ModelSpec
from automl.training import TrainParams
from automl.training.models import CNN, MLP, build_model, stackable


def test_mlp_flattens_and_has_depth_times_width() -> None:
    p = TrainParams(depth=3, width=16, dropout=0.1, batch_norm=True, activation="gelu")
    net = build_model(ModelSpec(family="mlp"), p, {}, (1, 8, 8), 10)
    assert isinstance(net, MLP) and len(net.layers) == 3
    assert net(torch.randn(4, 1, 8, 8)).shape == (4, 10)
    assert [m.out_features for m in net.modules() if isinstance(m, nn.Linear)] == [16, 16, 16, 10]
    assert any(isinstance(m, nn.BatchNorm1d) for m in net.modules())
    assert any(isinstance(m, nn.GELU) for m in net.modules())


def test_cnn_on_images_and_refused_on_tables() -> None:
    p = TrainParams(depth=2, channels=8, kernel_size=3, width=32, batch_norm=True, dropout=0.2)
    net = build_model(ModelSpec(family="cnn"), p, {}, (1, 8, 8), 10)
    assert isinstance(net, CNN)
    assert net(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16] and convs[0].kernel_size == (3, 3)
    deep = build_model(ModelSpec(family="cnn"), TrainParams(depth=5, channels=4), {}, (3, 4, 4), 2)
    assert deep(torch.randn(2, 3, 4, 4)).shape == (2, 2)  # pooling stops at 1x1
    with pytest.raises(SpecError, match=r"^model\.family: cnn needs image-shaped data"):
        build_model(ModelSpec(family="cnn"), p, {}, (13,), 3)


@pytest.mark.parametrize("init", ["kaiming", "xavier", "orthogonal", "default"])
def test_init_schemes(init: str) -> None:
    torch.manual_seed(0)
    net = build_model(ModelSpec(family="mlp"), TrainParams(init=init, width=32), {}, (32,), 32)
    linear = net.layers[0].linear  # type: ignore[index,union-attr]
    if init == "default":
        assert linear.bias.abs().sum() > 0
        return
    assert linear.bias.abs().sum() == 0
    if init == "orthogonal":
        w = linear.weight
        assert torch.allclose(w @ w.T, torch.eye(32), atol=1e-5)


def test_user_builder_gets_params_shape_and_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_models.py").write_text(
        "from torch import nn\nSEEN = []\ndef build(params, input_shape, n_outputs):\n"
        "    SEEN.append((params, input_shape, n_outputs))\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], params['hidden']),\n"
        "                         nn.ReLU(), nn.Linear(params['hidden'], n_outputs))\n"
        "def not_a_module(params, input_shape, n_outputs):\n    return 42\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    net = build_model(
        ModelSpec(family="python:my_models:build"), TrainParams(), {"hidden": 7, "lr": 0.1}, (5,), 3
    )
    import my_models  # type: ignore[import-not-found]

    assert my_models.SEEN == [({"hidden": 7, "lr": 0.1}, (5,), 3)]
    assert net(torch.randn(2, 5)).shape == (2, 3)
    with pytest.raises(SpecError, match=r"must return a torch\.nn\.Module, got int"):
        build_model(ModelSpec(family="python:my_models:not_a_module"), TrainParams(), {}, (5,), 3)
    with pytest.raises(SpecError, match=r"^model\.family: cannot import module 'no_such_models'"):
        build_model(ModelSpec(family="python:no_such_models:build"), TrainParams(), {}, (5,), 3)


def test_only_plain_mlps_take_the_stacked_path() -> None:
    assert stackable(ModelSpec(family="mlp"), TrainParams(dropout=0.3))
    assert not stackable(ModelSpec(family="mlp"), TrainParams(batch_norm=True))
    assert not stackable(ModelSpec(family="cnn"), TrainParams())
    assert not stackable(ModelSpec(family="python:m:f"), TrainParams())


def test_train_params_defaults_and_errors() -> None:
    p = TrainParams.from_mapping({}, batch_size=64)
    assert (p.lr, p.optimizer, p.depth, p.width, p.activation, p.schedule, p.batch_size) == (
        1e-3, "adamw", 2, 128, "relu", "constant", 64,
    )  # fmt: skip
    assert TrainParams.from_mapping(
        {"batch_size": 16, "batch_norm": "true"}, batch_size=64
    ).batch_norm
    with pytest.raises(SpecError, match=r"^space\.optimizer: 'lbfgs' is not a known optimizer"):
        TrainParams.from_mapping({"optimizer": "lbfgs"}, batch_size=8)
    with pytest.raises(SpecError, match=r"^space\.depth: must be an int"):
        TrainParams.from_mapping({"depth": 2.5}, batch_size=8)
    with pytest.raises(SpecError, match=r"^space\.lr: -?[0-9.e-]* is outside what lr can be"):
        TrainParams.from_mapping({"lr": 0}, batch_size=8)
