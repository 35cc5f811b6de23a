"""``autonp.numpy.random``: NumPy's ``random`` (random numbers are constants to the tape)."""
import numpy.random as _random
from numpy.random import *  # noqa: F403


def __getattr__(name: str):
    return getattr(_random, name)
