"""Fixtures for the training tests: one torch thread and a shared data cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from automl.training import DataCache


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread() -> Iterator[None]:
    # Two cores shared with other test processes: one thread is faster and steadier than two.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def cache() -> DataCache:
    """One data cache for the whole session, like a worker process has."""
    return DataCache(max_entries=16)
