"""Where a trial trains and in which precision: ``trainer.device`` and ``trainer.precision``."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from automl.errors import SpecError
from automl.studyfile import Precision


@dataclass(frozen=True)
class Placement:
    """The resolved device and mixed-precision settings of one trial."""

    device: torch.device
    precision: Precision  # never AUTO once resolved
    autocast_dtype: torch.dtype | None  # None: plain fp32

    @property
    def needs_scaler(self) -> bool:
        """fp16 gradients underflow without loss scaling; bf16 has fp32's range and does not."""
        return self.precision == Precision.FP16

    def autocast(self) -> contextlib.AbstractContextManager[object]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def grad_scaler(self) -> torch.amp.GradScaler | None:
        return torch.amp.GradScaler(self.device.type) if self.needs_scaler else None


def resolve(device: str, precision: Precision) -> Placement:
    """``auto`` picks CUDA when there is one; precision ``auto`` picks bf16 where the GPU has it."""
    if device == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise SpecError(
                "trainer.device", f"{device} was asked for, but this machine has no CUDA GPU"
            )
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            raise SpecError(
                "trainer.device",
                f"{device} does not exist; this machine has {torch.cuda.device_count()} GPU(s)",
            )
        if dev.type == "mps" and not torch.backends.mps.is_available():
            raise SpecError("trainer.device", "mps was asked for, but it is not available here")
    if precision == Precision.AUTO:
        bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
        precision = Precision.BF16 if bf16 else Precision.FP32
    dtype = {Precision.BF16: torch.bfloat16, Precision.FP16: torch.float16}.get(precision)
    return Placement(dev, precision, dtype)


def seed_everything(seed: int, device: torch.device) -> None:
    """Seed torch's CPU generator, and CUDA's when ``device`` is a GPU.

    ``torch.manual_seed`` also queues a seed for every accelerator kind torch knows (CUDA,
    XPU, MTIA) that is not started yet, formatting the caller's stack for each: about 5 ms a
    call on a CPU machine, three calls per trial. A trial on the CPU needs the CPU generator
    only; one on a GPU gets CUDA's seeded too.
    """
    torch.default_generator.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
