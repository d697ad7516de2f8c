"""int8 weights in safetensors (``automl export --quantize int8``) and reading them back.

The scheme is symmetric and per output channel: the weight matrix of every Linear layer and
the kernel of every Conv layer is stored as an ``I8`` tensor ``q`` under its own state-dict
key, and beside it an ``F32`` tensor of one scale per output channel under ``KEY.scale``
(no state-dict key can end that way: ``weight`` is a tensor, not a module), so that
``weight = q * scale`` channel by channel, ``q = round(weight / scale)`` in [-127, 127] and
``scale = max |weight of the channel| / 127``. Biases, norm parameters and buffers stay
``F32``. The safetensors metadata names the scheme (``{"quantization": SCHEME}``); a file
without it holds plain weights. Nothing is pickled.

``automl predict`` dequantises at load and runs the float model. torch's dynamic int8 Linear
path (``torch.ao.quantization.quantize_dynamic``) is not used: on the models automl trains (a
few hundred units wide, one row at a time on one CPU thread) it is slower, not faster (1.2 to
1.5 times the time per row on digits, ``benchmarks/bench_compress.py``; it only breaks even
near 1,000 units), it runs on the CPU only, its API is deprecated, and it would quantise again
with scales of its own. What int8 buys here is a weights file a quarter the size.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from automl.errors import UsageError

SCHEME = "int8-symmetric-per-channel"
SCALE = ".scale"  # the scale of tensor KEY is stored as KEY + SCALE
QUANTISED_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def quantised_keys(model: nn.Module) -> list[str]:
    """The state-dict keys of the weights that int8 stores: those of Linear and Conv layers."""
    return [
        f"{name}.weight" if name else "weight"
        for name, module in model.named_modules()
        if isinstance(module, QUANTISED_LAYERS) and isinstance(module.weight, torch.Tensor)
    ]


@torch.no_grad()
def quantise(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(q, scale)``: int8 values and one float32 scale per output channel (dim 0).

    >>> q, s = quantise(torch.tensor([[1.0, -0.5], [0.0, 0.0]]))
    >>> q.tolist(), s.tolist()
    ([[127, -64], [0, 0]], [0.007874015718698502, 1.0])
    """
    w = weight.detach().float().cpu()
    peak = w.abs().reshape(len(w), -1).amax(dim=1)
    scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
    shape = (-1,) + (1,) * (w.ndim - 1)
    q = torch.round(w / scale.reshape(shape)).clamp_(-127, 127).to(torch.int8)
    return q.contiguous(), scale.contiguous()


def dequantise(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return q.float() * scale.reshape((-1,) + (1,) * (q.ndim - 1))


def int8_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with every Linear and Conv weight as int8 plus its scales."""
    state = {
        k: v.detach().contiguous().cpu()
        for k, v in model.state_dict().items()
        if isinstance(v, torch.Tensor)
    }
    for key in quantised_keys(model):
        state[key], state[key + SCALE] = quantise(state[key])
    return state


def save_weights(model: nn.Module, path: Path, *, int8: bool) -> int:
    """Write the model's weights (int8 or as they are) to ``path``; returns the file's size."""
    from safetensors.torch import save_file

    if int8:
        save_file(int8_state(model), str(path), metadata={"format": "pt", "quantization": SCHEME})
    else:
        state = {
            k: v.detach().contiguous().cpu()
            for k, v in model.state_dict().items()
            if isinstance(v, torch.Tensor)
        }
        save_file(state, str(path))
    return path.stat().st_size


def float_bytes(model: nn.Module) -> int:
    """How many bytes the model's weights take as a plain (float) safetensors file."""
    from safetensors.torch import save

    state = {
        k: v.detach().contiguous().cpu()
        for k, v in model.state_dict().items()
        if isinstance(v, torch.Tensor)
    }
    return len(save(state))


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], str]:
    """``(float state dict, precision)`` from a weights file; int8 tensors are dequantised."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        scheme = (handle.metadata() or {}).get("quantization")
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
    if scheme is None:
        return tensors, "fp32"
    if scheme != SCHEME:
        raise UsageError(
            f"DIR: {path} is quantised as {scheme!r}, which this automl cannot read; "
            "export it again"
        )
    return from_int8(tensors), "int8"


def from_int8(tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A float state dict from the tensors of an int8 file."""
    state = {}
    for key, value in tensors.items():
        if key.endswith(SCALE) and key.removesuffix(SCALE) in tensors:
            continue
        scale = tensors.get(key + SCALE)
        state[key] = (
            dequantise(value, scale) if scale is not None and value.dtype == torch.int8 else value
        )
    return state
