"""Random numbers while tracing: ``np.random.<function>`` is recorded as a draw (each replay draws
anew), and a draw from NumPy's global generator that the trace did not record is refused."""
from __future__ import annotations

import threading
from typing import Callable

import numpy as np

from . import _trace
from ._trace import CompileError, Program

_RANDOM_FUNCTIONS = [n for n in dir(np.random.RandomState) if not n.startswith("_")
                     and hasattr(np.random, n) and n not in ("get_state",)] + ["default_rng"]


class _RandomPatch:
    """While any thread traces, ``np.random.<fn>`` records its call in that thread's trace (so each
    replay draws new numbers); other threads, and the same functions outside tracing, draw as ever."""

    lock = threading.Lock()
    users = 0
    originals: dict = {}
    active: list = []  # the programs being traced now

    @classmethod
    def enter(cls, program: Program) -> None:
        program.rng_state = _global_rng_state()
        program.rng_shared = False
        with cls.lock:
            cls.active.append(program)
            if len(cls.active) > 1:  # traces overlap: the global generator's moves cannot be told apart
                for p in cls.active:
                    p.rng_shared = True
            cls.users += 1
            if cls.users == 1:
                for name in _RANDOM_FUNCTIONS:
                    cls.originals[name] = original = getattr(np.random, name)
                    setattr(np.random, name, cls._recorder(name, original))

    @classmethod
    def exit(cls, program: Program) -> None:
        with cls.lock:
            cls.active.remove(program)
            cls.users -= 1
            if cls.users == 0:
                for name, original in cls.originals.items():
                    setattr(np.random, name, original)
                cls.originals = {}

    @staticmethod
    def _recorder(name: str, original: Callable) -> Callable:
        def recorder(*args, **kwargs):
            program = _trace._state.program
            if program is None:
                return original(*args, **kwargs)
            result = _trace.record("call", original, args, kwargs)
            program.rng_state = _global_rng_state()
            return result
        recorder.__name__ = name
        recorder.__wrapped__ = original
        return recorder


def _global_rng_state():
    state = np.random.get_state()
    return state[2], state[1].tobytes()


def _check_global_rng(program: Program) -> None:
    """Has NumPy's global generator moved other than by the draws the trace recorded? (Not checked
    when another thread traced at the same time; a thread drawing eagerly meanwhile is mistaken for
    an unrecorded draw.)"""
    if not program.rng_shared and _global_rng_state() != program.rng_state:
        raise CompileError("compile: the function drew random numbers from NumPy's global generator other "
                           "than through np.random.<function> (e.g. `from numpy.random import randn`); "
                           "those would be the same numbers on every replay. Call np.random.<function>, "
                           "or pass a np.random.Generator as an argument.")
