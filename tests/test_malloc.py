"""autonp keeps freed memory for the next step (glibc): the page faults a training step paid for
arrays it had just freed are gone. Counted with getrusage (minor faults), not timed."""
from __future__ import annotations

import sys

import pytest

from conftest import python_output

PROGRAM = r"""
import resource, sys
import numpy as np
import autonp, autonp._malloc

def step():  # a step's pattern: a few MB allocated, used, freed, in an order that leaves the heap's top free
    a = np.ones(3 << 18, np.float32)
    b = np.ones(5 << 18, np.float32)
    c = a + 1
    del a
    d = b * c[:1].sum()
    del b, c
    return d.sum()

for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(autonp._malloc.applied, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def faults_per_step(setting: str) -> tuple[bool, float]:
    applied, faults = python_output(PROGRAM, AUTONP_MALLOC=setting).split()
    return applied == "True", float(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_step_reuses_the_memory_it_freed():
    applied, tuned = faults_per_step("1")
    if not applied:
        pytest.skip("not glibc: autonp leaves the allocator alone")
    kept_default, default = faults_per_step("0")
    assert not kept_default
    assert default > 500, f"the pattern should fault its pages in again under glibc's defaults ({default})"
    assert tuned < 0.05 * default, f"{tuned} faults per step with the setting, {default} without"
