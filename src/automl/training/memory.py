"""Will the largest model of the space fit? An estimate made before anything trains.

For the built-in families (mlp, cnn), the largest model of the space (every size parameter at
its upper bound) is built on PyTorch's ``meta`` device, which allocates nothing, and run on one
meta batch with hooks that count what each layer outputs. Memory of one trial, all folds at
once (the stacked engine trains them together):

    folds x (parameters x 4 bytes x 4: weights, gradients, two optimiser moments
             + batch x outputs per row x 4 bytes x 2: the forward pass, kept for the backward)

A trial that needs more than 80% of the device's memory (the GPU's, or the machine's RAM on
CPU) is refused before anything is written. A ``python:`` model builder is the user's: it is
not estimated.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

from automl.errors import SpecError
from automl.studyfile import StudySpec
from automl.studyfile.space import CategoricalParam, FixedParam, FloatParam, IntParam
from automl.studyfile.trainer_params import TrainParams
from automl.training.models import build_model

SIZE_PARAMS = ("width", "depth", "channels", "kernel_size", "batch_size")
FRACTION = 0.8


def largest_params(spec: StudySpec) -> dict[str, Any]:
    """Each size parameter of the space at its largest value."""
    out: dict[str, Any] = {}
    for name in SIZE_PARAMS:
        entry = spec.space.get(name)
        if isinstance(entry, (IntParam, FloatParam)):
            out[name] = int(entry.high)
        elif isinstance(entry, CategoricalParam):
            numbers = [c for c in entry.choices if isinstance(c, int) and not isinstance(c, bool)]
            if numbers:
                out[name] = max(numbers)
        elif isinstance(entry, FixedParam) and isinstance(entry.value, int):
            out[name] = entry.value
    return out


def trial_bytes(spec: StudySpec, input_shape: tuple[int, ...], n_outputs: int) -> int | None:
    """Bytes one trial of the largest model needs; None for a model builder of the user's."""
    if spec.model.is_user_builder:
        return None
    params = largest_params(spec)
    p = TrainParams.from_mapping(params, batch_size=spec.trainer.batch_size, model_params=True)
    outputs = 0

    def count(_module: nn.Module, _inputs: Any, output: Any) -> None:
        nonlocal outputs
        if isinstance(output, torch.Tensor):
            outputs += output[0].numel()  # per row

    with torch.device("meta"):
        net = build_model(spec.model, p, params, input_shape, n_outputs)
        hooks = [m.register_forward_hook(count) for m in net.modules() if not list(m.children())]
        net(torch.empty(1, *input_shape))
    for hook in hooks:
        hook.remove()
    weights = sum(t.numel() for t in net.parameters())
    folds = spec.dataset.cv.folds * spec.dataset.cv.repeats
    return folds * (weights * 4 * 4 + p.batch_size * outputs * 4 * 2)


def device_bytes(device: str) -> tuple[int, str]:
    """(bytes of memory, a name for it) of the device trials will run on."""
    if (device in ("auto", "cuda") or device.startswith("cuda:")) and torch.cuda.is_available():
        index = int(device.split(":")[1]) if ":" in device else 0
        props = torch.cuda.get_device_properties(index)
        return int(props.total_memory), f"GPU {props.name}"
    return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "this machine's RAM"


def check_memory(spec: StudySpec, input_shape: tuple[int, ...], n_outputs: int) -> None:
    """SpecError naming ``space`` when the largest model of the space cannot fit the device."""
    need = trial_bytes(spec, input_shape, n_outputs)
    if need is None:
        return
    have, what = device_bytes(spec.trainer.device)
    if need > FRACTION * have:
        sizes = ", ".join(f"{k} {v}" for k, v in largest_params(spec).items()) or "the defaults"
        raise SpecError(
            "space",
            f"the largest model of the space ({sizes}) needs about {need / 2**30:.1f} "
            "GiB per trial for "
            f"{spec.dataset.cv.folds * spec.dataset.cv.repeats} folds, more than "
            f"{FRACTION:.0%} of {what} ({have / 2**30:.1f} GiB); lower the upper bounds",
        )
