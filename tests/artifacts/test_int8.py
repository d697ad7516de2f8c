"""int8 weights: symmetric per-channel values and scales in safetensors, read back as floats."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from torch import nn

from automl.artifacts.int8 import (
    SCALE,
    SCHEME,
    dequantise,
    load_weights,
    quantise,
    quantised_keys,
    save_weights,
)
from automl.errors import UsageError


def test_each_output_channel_has_its_own_scale_and_the_error_is_half_a_step_at_most() -> None:
    torch.manual_seed(0)
    # channels of very different sizes
    w = torch.randn(6, 5, 3, 3) * torch.arange(1, 7).reshape(6, 1, 1, 1)
    w[2] = 0.0  # a dead channel: scale 1, values 0
    q, scale = quantise(w)
    assert q.dtype == torch.int8 and scale.dtype == torch.float32 and scale.shape == (6,)
    assert q.abs().max() <= 127 and scale[2] == 1.0 and not q[2].any()
    step = scale.reshape(-1, 1, 1, 1)
    assert ((dequantise(q, scale) - w).abs() <= step / 2 + 1e-6).all()
    assert (
        q.reshape(6, -1).abs().amax(1)[[0, 1, 3, 4, 5]] == 127
    ).all()  # each channel uses the whole range


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 10)
    )


def test_only_linear_and_conv_weights_are_quantised_and_no_pickle_is_written(
    tmp_path: Path,
) -> None:
    model = _model().eval()
    path = tmp_path / "model.safetensors"
    size = save_weights(model, path, int8=True)
    assert size == path.stat().st_size
    assert quantised_keys(model) == ["0.weight", "3.weight"]
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata()["quantization"] == SCHEME == "int8-symmetric-per-channel"
        dtypes = {key: handle.get_slice(key).get_dtype() for key in handle.keys()}  # noqa: SIM118
    assert dtypes["0.weight"] == dtypes["3.weight"] == "I8"
    assert dtypes["0.weight" + SCALE] == dtypes["3.weight" + SCALE] == "F32"
    assert all(
        dtypes[k] == "F32" for k in ("0.bias", "1.weight", "1.bias", "1.running_mean", "3.bias")
    )
    # not a pickle; safetensors is a JSON header and raw tensors
    assert path.read_bytes()[:2] != b"\x80\x04"
    state, precision = load_weights(path)
    assert precision == "int8" and set(state) == set(model.state_dict())
    fresh = _model()
    fresh.load_state_dict(state)
    x = torch.randn(8, 1, 8, 8)
    assert torch.allclose(fresh.eval()(x), model(x), atol=0.05)


def test_a_float_file_reads_back_as_it_was_and_an_unknown_scheme_is_refused(tmp_path: Path) -> None:
    model = _model()
    save_weights(model, tmp_path / "f.safetensors", int8=False)
    state, precision = load_weights(tmp_path / "f.safetensors")
    assert precision == "fp32" and all(
        torch.equal(state[k], v) for k, v in model.state_dict().items()
    )
    from safetensors.torch import save_file

    save_file(
        {"w": torch.zeros(2, dtype=torch.int8)},
        str(tmp_path / "x.safetensors"),
        metadata={"quantization": "int4-awq"},
    )
    with pytest.raises(UsageError, match="int4-awq"):
        load_weights(tmp_path / "x.safetensors")
