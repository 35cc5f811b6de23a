"""Full-batch gradients over data that does not fit one machine, computed where the data lives — on
an existing engine (Dask, or any ``concurrent.futures.Executor``), not a home-made cluster.

``data_parallel(f, argnums, data_argnums)`` returns ``run(*args) -> (value, grads)``: the mean loss of
``f`` over all rows of the data arguments and its gradient with respect to ``args[argnums]`` (arrays, or
pytrees of them: the gradients come back in the same structure, as Tensors), equal
to one full-batch ``value_and_grad`` (each block of rows weighted n_b/n — the same arithmetic as
``backward_in_blocks`` — and the blocks summed in a fixed order, so results are deterministic). That needs
``f`` to be a mean over rows that do not interact: batch statistics (batch norm in training) refuse to run in
blocks, and Dropout draws its masks block by block (other masks than one full-batch call would draw). The
parameters are the arguments named by ``argnums``: a Tensor that requires grad read from elsewhere (a closure,
a global) is refused, as its gradient would stay on a worker.

- ``client=None``: block by block in this process (``backward_in_blocks``).
- ``client=`` a ``dask.distributed.Client``: NumPy data is scattered to the workers once (each block
  kept on two workers, so losing one loses no data) and reused on later calls with the same arrays.
  While the workers hold its copy an array is read-only (the memory guard's rule: ``X *= 3`` fails at
  that line instead of being silently ignored; ``X = X * 3`` is new data, sent on the next call; an
  array made writeable again by hand is sent again). Only the latest array at each data position
  stays on the workers (the one before is released, and writeable again);
  ``dask.array`` data (say a ``.npy`` memmap or zarr store bigger than any worker's memory) is read
  chunk by chunk where it lives; parameters are broadcast once per call; block results are reduced
  with a tree sum. A worker that dies mid-step is replaced by Dask's rescheduling, with the same result;
  if it took the only copy of something the step needs, the step is run again from the scattered
  data (the result is bit for bit the same: the blocks and their sum do not depend on who ran them).
- ``client=`` any other ``concurrent.futures.Executor``: blocks as tasks, data sent with each task.
"""
from __future__ import annotations

import weakref
from concurrent.futures import CancelledError
from typing import Any, Callable, Sequence

import numpy as np

from .functional import backward_in_blocks, block_backward, check_block_rows
from .pytree import flatten, unflatten
from .tensor import Tensor, _lock, _unlock

__all__ = ["data_parallel"]


def _as_array(x: Any) -> np.ndarray:
    arr = np.asarray(x.numpy() if isinstance(x, Tensor) else x)
    return arr if arr.dtype.kind == "f" else arr.astype(np.float64)


def _place(full: list, argnums: tuple, trees: list, leaves: list) -> None:
    """Put the parameter leaves back into their arguments' structures (pytrees)."""
    k = 0
    for i, tree in zip(argnums, trees):
        full[i] = unflatten(tree, leaves[k:k + tree.num_leaves])
        k += tree.num_leaves


def _block_result(f: Callable, argnums: tuple, trees: list, data_argnums: tuple, args: list, params: list,
                  blocks: list, weight: float) -> tuple[float, list[np.ndarray]]:
    """One block's weighted value and gradients (runs on a worker)."""
    full = list(args)
    ps = [Tensor(p, requires_grad=True) for p in params]
    _place(full, argnums, trees, ps)
    for i, b in zip(data_argnums, blocks):
        full[i] = np.asarray(b)
    value = block_backward(lambda: f(*full), weight, only=ps)
    return value, [np.zeros_like(p.numpy()) if p.grad is None else p.grad.numpy() for p in ps]


def _add(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], [x + y for x, y in zip(a[1], b[1])]


def _tree_sum(items: list, add: Callable) -> Any:
    """((r0 + r1) + (r2 + r3)) + ...: the same pairing every time, so the same rounding."""
    while len(items) > 1:
        items = [add(items[k], items[k + 1]) if k + 1 < len(items) else items[k] for k in range(0, len(items), 2)]
    return items[0]


class _Run:
    def __init__(self, f, argnums, data_argnums, block_rows, client):
        self.f, self.block_rows, self.client = f, block_rows, client
        self.single = isinstance(argnums, int)
        self.argnums = (argnums,) if self.single else tuple(argnums)
        self.data_argnums = (data_argnums,) if isinstance(data_argnums, int) else tuple(data_argnums)
        # data position -> (array, bounds, block futures): the latest data only, read-only meanwhile
        self._scattered: dict[int, tuple[Any, list, list]] = {}
        self._locked: dict[int, list] = {}  # data position -> the arrays made read-only for it
        weakref.finalize(self, _unlock_all, self._locked)

    def __call__(self, *args: Any) -> tuple[Tensor, Any]:
        args = list(args)
        data = [args[i] for i in self.data_argnums]
        n = len(data[0])
        if any(len(d) != n for d in data):
            raise ValueError(f"data_parallel: the data arguments have different numbers of rows "
                             f"{[len(d) for d in data]}")
        if n == 0:
            raise ValueError("data_parallel: the data has no rows (the mean loss over no rows is undefined)")
        self._trees = []
        params = []
        for i in self.argnums:  # each parameter argument may be a pytree of arrays
            leaves, tree = flatten(args[i])
            self._trees.append(tree)
            params.extend(_as_array(leaf) for leaf in leaves)
        bounds = [(s, min(s + self.block_rows, n)) for s in range(0, n, self.block_rows)]
        if self.client is None:
            value, grads = self._local(args, params, data)
        elif _is_dask_client(self.client):
            value, grads = self._dask(args, params, data, bounds, n)
        else:
            value, grads = self._executor(args, params, data, bounds, n)
        placed: list = [None] * len(args)
        _place(placed, self.argnums, self._trees, [Tensor(g) for g in grads])
        out = [placed[i] for i in self.argnums]
        return Tensor(value), (out[0] if self.single else tuple(out))

    def _local(self, args, params, data):
        ps = [Tensor(p, requires_grad=True) for p in params]
        full = list(args)
        _place(full, self.argnums, self._trees, ps)

        def loss(*blocks):
            for i, b in zip(self.data_argnums, blocks):
                full[i] = b
            return self.f(*full)
        value = backward_in_blocks(loss, *(np.asarray(d) for d in data), block_rows=self.block_rows, only=ps)
        return value, [np.zeros_like(p.numpy()) if p.grad is None else p.grad.numpy() for p in ps]

    def _template(self, args):
        return [None if (i in self.argnums or i in self.data_argnums) else a for i, a in enumerate(args)]

    def _executor(self, args, params, data, bounds, n):
        template = self._template(args)
        futures = [self.client.submit(_block_result, self.f, self.argnums, self._trees, self.data_argnums, template,
                                      params, [np.asarray(d[lo:hi]) for d in data], (hi - lo) / n)
                   for lo, hi in bounds]
        return _tree_sum([fu.result() for fu in futures], _add)

    def _dask(self, args, params, data, bounds, n, tries: int = 3):
        """The step on the cluster; run again (from data scattered anew) when a dead worker took the
        only copy of what it needed."""
        for attempt in range(tries):
            try:
                return self._dask_once(args, params, data, bounds, n)
            except Exception as e:
                if not _lost_worker(e):
                    raise
                self._scattered.clear()
                _unlock_all(self._locked)
                if attempt == tries - 1:
                    raise RuntimeError(f"data_parallel: the step failed {tries} times as workers were lost "
                                       f"({type(e).__name__}: {e})") from e

    def _dask_once(self, args, params, data, bounds, n):
        client = self.client
        template = self._template(args)
        block_sets = [self._blocks_on_workers(pos, d, bounds) for pos, d in enumerate(data)]
        param_futures = _scatter(client, params, broadcast=True, hash=False)
        results = [client.submit(_block_result, self.f, self.argnums, self._trees, self.data_argnums, template,
                                 param_futures,
                                 [blocks[b] for blocks in block_sets], (hi - lo) / n, pure=False)
                   for b, (lo, hi) in enumerate(bounds)]
        total = _tree_sum(results, lambda a, b: client.submit(_add, a, b, pure=False))
        return total.result()

    def _blocks_on_workers(self, pos, d, bounds) -> list:
        """Per block: a future (NumPy data: scattered once, kept on two workers) or a dask collection."""
        if _is_dask_array(d):
            d = d.rechunk({0: self.block_rows} if d.ndim == 1 else {0: self.block_rows, **{
                k: -1 for k in range(1, d.ndim)}})
            if tuple(hi - lo for lo, hi in bounds) != d.chunks[0]:
                raise ValueError("data_parallel: could not align the dask array's chunks with the blocks")
            return self.client.compute(list(d.to_delayed().reshape(-1)))  # read where the chunks live
        arr = np.asarray(d)
        cached = self._scattered.get(pos)
        if cached is not None and cached[0] is d and cached[1] == bounds and not arr.flags.writeable:
            futures = cached[2]
            if self._copies(futures) < 2:  # a worker was lost since: back to two copies each
                self.client.replicate(futures, n=2)
            return futures
        self._scattered.pop(pos, None)  # the earlier data is released on the workers
        _unlock(self._locked.pop(pos, None) or [])
        futures = _scatter(self.client, [arr[lo:hi] for lo, hi in bounds], hash=False)
        if self._workers() > 1:
            self.client.replicate(futures, n=2)
        self._locked[pos] = _lock([arr]) or []  # the values the workers hold cannot change here unseen
        self._scattered[pos] = (d, bounds, futures)
        return futures

    def _workers(self) -> int:
        return len(self.client.scheduler_info().get("workers", {}))

    def _copies(self, futures) -> int:
        if self._workers() < 2:
            return 2
        held = self.client.who_has(futures)
        return min((len(v) for v in held.values()), default=0)


def _unlock_all(locked: dict) -> None:
    for arrays in locked.values():
        _unlock(arrays)
    locked.clear()


class _LostInScatter(Exception):
    """A worker died while data was being scattered to it."""


def _scatter(client: Any, data: Any, **kwargs: Any) -> Any:
    """``client.scatter``. A worker that dies as data is sent to it makes the scheduler raise a KeyError naming
    its address (seen when a worker is killed during a fresh run's first call): a lost worker. Scattering
    runs no user code, so no KeyError of the user's is taken for one."""
    try:
        return client.scatter(data, **kwargs)
    except KeyError as e:
        if len(e.args) == 1 and isinstance(e.args[0], str) and "://" in e.args[0]:
            raise _LostInScatter(f"worker {e.args[0]} was lost while data was scattered to it") from e
        raise


def _lost_worker(e: Exception) -> bool:
    """Did ``e`` come from a worker lost mid-step (work, data, a connection it closed, or a scatter lost with
    it)? Dask's errors are imported here: it is an optional dependency."""
    from distributed.client import FutureCancelledError  # noqa: PLC0415
    from distributed.comm.core import CommClosedError  # noqa: PLC0415
    from distributed.scheduler import KilledWorker  # noqa: PLC0415
    return isinstance(e, (CancelledError, _LostInScatter, FutureCancelledError, KilledWorker, CommClosedError))


def _is_dask_client(c: Any) -> bool:
    return type(c).__module__.startswith("distributed") and hasattr(c, "scatter")


def _is_dask_array(d: Any) -> bool:
    return type(d).__module__.startswith("dask.array")


def data_parallel(f: Callable, argnums: int | Sequence[int] = 0, data_argnums: int | Sequence[int] = 1, *,
                  block_rows: int = 2048, client: Any = None) -> Callable:
    """``run = data_parallel(f, argnums, data_argnums)``; ``value, grads = run(*args)``.

    ``f(*args)`` must return the *mean* loss over the rows it is given (``f`` is sent to the workers,
    so it must be picklable by cloudpickle: a module-level function or a closure over picklable
    things). ``args[argnums]`` are the parameters (arrays or Tensors), ``args[data_argnums]`` the
    row-aligned data (NumPy arrays, or dask arrays with a Dask client). See the module docstring.
    """
    check_block_rows("data_parallel", block_rows)
    return _Run(f, argnums, data_argnums, int(block_rows), client)
