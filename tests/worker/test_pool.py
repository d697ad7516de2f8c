"""Slots of automl worker pinned to the GPUs this process was given (no Redis needed)."""

from __future__ import annotations

from automl.worker.pool import plan_slots


def test_a_slot_gets_the_parents_entry_for_its_gpu_not_the_physical_gpu_of_that_number() -> None:
    slots = plan_slots("all", trials_per_gpu=2, gpu_count=lambda: 2, visible_devices="2, 3")
    assert [(s.name, s.cuda_visible_devices) for s in slots] == [
        ("gpu:0/0", "2"), ("gpu:0/1", "2"), ("gpu:1/0", "3"), ("gpu:1/1", "3"),
    ]  # fmt: skip
    mig = "MIG-4b9a0c1e-1b2c-5d6e-9f00-aa11bb22cc33"
    assert [
        s.cuda_visible_devices for s in plan_slots("0", gpu_count=lambda: 1, visible_devices=mig)
    ] == [mig]
    # nothing set
    assert [s.cuda_visible_devices for s in plan_slots("1", gpu_count=lambda: 2)] == ["1"]
