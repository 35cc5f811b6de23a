"""Full-batch gradients over data larger than any worker's memory (not run in CI).

MNIST repeated ten times — 600,000 rows, float32, 1.9 GB — is written once to a ``.npy`` file; a Dask
LocalCluster whose workers may use far less memory than that reads it block by block (each task maps
its rows of the file), and computes the blog network's full-batch mean loss and gradient. The result
is checked against a single-machine ``value_and_grad`` on a subset (the first 60,000 rows).

    python examples/dask_larger_than_memory.py --data ../shared/data/mnist.npz --workdir /tmp/autonp-big
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import autonp as anp  # noqa: E402
from autonp.datasets import load_mnist  # noqa: E402
from blog_mnist import blog_loss  # noqa: E402


def write_npy(path: Path, X: np.ndarray, repeat: int) -> None:
    """X stacked ``repeat`` times, written block by block through a memmap (never all in memory)."""
    out = np.lib.format.open_memmap(path, mode="w+", dtype=X.dtype, shape=(len(X) * repeat, X.shape[1]))
    for r in range(repeat):
        out[r * len(X):(r + 1) * len(X)] = X
    out.flush()
    del out


def rows_of(path: str, lo: int, hi: int) -> np.ndarray:
    """Rows lo..hi of a .npy file, read with plain file reads (runs on a worker; no memory map, so
    the worker's resident memory is what it really holds)."""
    with open(path, "rb") as f:
        version = np.lib.format.read_magic(f)
        read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read(f)
        row = int(np.prod(shape[1:]))
        f.seek(f.tell() + lo * row * dtype.itemsize)
        return np.fromfile(f, dtype=dtype, count=(hi - lo) * row).reshape((hi - lo,) + tuple(shape[1:]))


def npy_as_dask(path: Path, block_rows: int):
    import dask
    import dask.array as da
    shape, dtype = np.load(path, mmap_mode="r").shape, np.load(path, mmap_mode="r").dtype
    chunks = [da.from_delayed(dask.delayed(rows_of)(str(path), lo, min(lo + block_rows, shape[0])),
                              shape=(min(lo + block_rows, shape[0]) - lo, shape[1]), dtype=dtype)
              for lo in range(0, shape[0], block_rows)]
    return da.concatenate(chunks)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--workdir", default="/tmp/autonp-big")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--memory-limit", default="600MiB", help="per worker")
    ap.add_argument("--block-rows", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=3)
    args = ap.parse_args(argv)
    from dask.distributed import Client, LocalCluster

    data = load_mnist(args.data)
    X = data.flat(np.float32)[0]
    Y = np.eye(10, dtype=np.float32)[data.y_train]
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path, ypath = work / f"mnist_x{args.repeat}.npy", work / f"mnist_x{args.repeat}_labels.npy"
    if not path.exists() or not ypath.exists():
        t = time.perf_counter()
        write_npy(path, X, args.repeat)
        write_npy(ypath, np.eye(10, dtype=np.float32)[data.y_train], args.repeat)
        print(f"wrote {path} ({path.stat().st_size / 2**30:.2f} GiB) in {time.perf_counter() - t:.0f} s")
    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(784, 5)) * 0.01).astype(np.float32), np.zeros((1, 5), np.float32),
              (rng.normal(size=(5, 10)) * 0.01).astype(np.float32), np.zeros((1, 10), np.float32)]
    Xd, Yd = npy_as_dask(path, args.block_rows), npy_as_dask(ypath, args.block_rows)
    with LocalCluster(n_workers=args.workers, threads_per_worker=1, memory_limit=args.memory_limit,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        print(f"{client}; data {Xd.nbytes / 2**30:.2f} GiB, worker memory limit {args.memory_limit}")
        run = anp.data_parallel(blog_loss, argnums=(0, 1, 2, 3), data_argnums=(4, 5), block_rows=args.block_rows,
                                client=client)
        times = []
        for step in range(args.steps):
            t = time.perf_counter()
            value, grads = run(*params, Xd, Yd)
            times.append(time.perf_counter() - t)
            print(f"step {step}: full-batch loss {float(value):.6f} over {Xd.shape[0]} rows in {times[-1]:.1f} s")
        worker_peaks = client.run(peak_rss_mib)
        # the same gradient on the first 60,000 rows, on Dask and on this machine alone
        n = len(X)
        sub_value, sub_grads = run(*params, Xd[:n], Yd[:n])
    ref_value, ref_grads = anp.value_and_grad(blog_loss, argnums=(0, 1, 2, 3))(*params, X, Y)
    rel = max(float(np.max(np.abs(a.numpy() - b.numpy())) / np.max(np.abs(b.numpy())))
              for a, b in zip(sub_grads, ref_grads))
    print(f"subset check: loss {float(sub_value):.9f} vs {float(ref_value):.9f}; max rel gradient diff {rel:.2e}")
    print("peak worker memory: " + ", ".join(f"{v:.0f} MiB" for v in worker_peaks.values()))
    return {"step_seconds": times, "worker_peak_mib": list(worker_peaks.values()), "subset_rel_diff": rel}


if __name__ == "__main__":
    main()
