"""HIPS autograd's own example programs, ported by their import lines, against HIPS autograd itself.

    python benchmarks/hips_acceptance.py [--seconds 60] [--only convnet.py ...]

HIPS's code is not in this repository: the script downloads autograd's source distribution from PyPI
(`pip download --no-binary`), makes two copies of its examples, replaces `autograd` by `autonp` in the import
lines of one (and in `convnet.py`'s one use of the module by name), and runs each program in both, with
NumPy's random state seeded alike (also `RandomState()` without a seed). It reports, per program: whether
it ran, the first gradient each computed (saved as the program ran) compared relative to its largest
entry, the printed figures of the first ten lines compared, and how many lines each printed in the time.

Data: the MNIST programs read `$AUTONP_MNIST` (or ../shared/data/mnist.npz) instead of downloading. The
programs that train on their own source text (lstm, rnn, hmm_em) read the original file in both runs.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NUM = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")

SITECUSTOMIZE = '''
import os, numpy
numpy.random.seed(0)
_RandomState = numpy.random.RandomState
class RandomState(_RandomState):
    def __init__(self, seed=None):
        super().__init__(0 if seed is None else seed)
numpy.random.RandomState = RandomState
if os.environ.get("ACCEPT_LIB"):
    import importlib
    lib = importlib.import_module(os.environ["ACCEPT_LIB"])
    saved = []
    def leaves(x):
        if isinstance(x, (list, tuple)):
            return [v for item in x for v in leaves(item)]
        if isinstance(x, dict):
            return [v for k in sorted(x) for v in leaves(x[k])]
        x = getattr(x, "_value", x)
        x = x.data if type(x).__name__ == "Tensor" else x
        return [numpy.ravel(numpy.asarray(x, dtype=float))]
    def wrap(name, pick):
        orig = getattr(lib, name)
        def transform(fun, *a, **k):
            inner = orig(fun, *a, **k)
            def call(*args, **kwargs):
                r = inner(*args, **kwargs)
                if not saved:
                    saved.append(1)
                    numpy.save(os.environ["ACCEPT_OUT"], numpy.concatenate(leaves(pick(r)) or [numpy.zeros(0)]))
                return r
            return call
        setattr(lib, name, transform)
    wrap("grad", lambda r: r)
    wrap("elementwise_grad", lambda r: r)
    wrap("value_and_grad", lambda r: r[1])
'''

MNIST = '''def mnist():
    with np.load({path!r}) as f:  # the acceptance check: a local keras-layout file, offline
        return f["x_train"], f["y_train"], f["x_test"], f["y_test"]
'''


def fetch(work: Path) -> Path:
    """autograd's sdist from PyPI, unpacked; returns its examples folder."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                    "-d", str(work), "autograd"], check=True)
    archive = next(work.glob("autograd-*.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(work, filter="data")
    return next(work.glob("autograd-*/examples"))


def port(src: Path, dst: Path, original: Path, mnist: str) -> None:
    """Copy the examples; in dst, autograd -> autonp on import lines (and the module named in convnet)."""
    for path in src.rglob("*"):
        if path.is_dir():
            continue
        out = dst / path.relative_to(src)
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix != ".py":
            out.write_bytes(path.read_bytes())
            continue
        text = path.read_text()
        if path.name == "data_mnist.py":
            text = re.sub(r"def mnist\(\):\n", MNIST.format(path=mnist), text, count=1)
        if dst.name == "ported":
            text = "\n".join(re.sub(r"\bautograd\b", "autonp", line) if re.match(r"\s*(import|from)\s", line)
                             else line for line in text.split("\n"))
            text = re.sub(r"\bautograd\.scipy\b", "autonp.scipy", text)
        for own in ("lstm.py", "rnn.py"):  # training text: the original file in both runs
            text = text.replace(f'join(dirname(__file__), "{own}")', repr(str(original / own)))
        out.write_text(text)


def run(tree: Path, prog: str, lib: str, seconds: float, grads: Path) -> tuple[int, list[str]]:
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "ACCEPT_LIB": lib, "ACCEPT_OUT": str(grads / (prog.replace("/", "_") + f".{lib}.npy")),
           "PYTHONPATH": os.pathsep.join([str(tree.parent / "site"), str(tree), str(REPO)])}
    try:
        done = subprocess.run([sys.executable, "-u", Path(prog).name], cwd=tree / Path(prog).parent, env=env,
                              capture_output=True, text=True, timeout=seconds)
        return done.returncode, done.stdout.splitlines()
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        return -1, out.splitlines()


def figures(a: list[str], b: list[str]) -> float | None:
    """The largest relative difference between the numbers of the first ten common lines (None: the text
    around them differs)."""
    worst = 0.0
    for x, y in list(zip(a, b))[:10]:
        x, y = (re.sub(r"\s+", "", re.sub(r"(np\.float64|array)\(", "(", s)) for s in (x, y))
        if NUM.sub("#", x) != NUM.sub("#", y):
            return None
        for p, q in zip(NUM.findall(x), NUM.findall(y)):
            p, q = float(p), float(q)
            if p != q:
                worst = max(worst, abs(p - q) / max(abs(p), abs(q)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=60.0, help="time per program and library")
    ap.add_argument("--only", nargs="*", help="these programs (paths under examples/)")
    args = ap.parse_args()
    mnist = os.environ.get("AUTONP_MNIST") or str(REPO.parent / "shared" / "data" / "mnist.npz")
    work = Path(tempfile.mkdtemp(prefix="hips_acceptance_"))
    examples = fetch(work)
    for name in ("hips", "ported"):
        port(examples, work / name, examples, mnist)
    (work / "site").mkdir()
    (work / "site" / "sitecustomize.py").write_text(SITECUSTOMIZE)
    grads = work / "grads"
    grads.mkdir()
    progs = args.only or sorted(str(p.relative_to(examples)) for p in examples.rglob("*.py")
                                if not p.name.startswith(("data", "__init__")))
    print("| program | runs (HIPS / autonp) | first gradient, max diff / max | first 10 lines | lines printed |")
    print("|---|---|---|---|---|")
    for prog in progs:
        rc_h, out_h = run(work / "hips", prog, "autograd", args.seconds, grads)
        rc_p, out_p = run(work / "ported", prog, "autonp", args.seconds, grads)
        stem = prog.replace("/", "_")
        g = [grads / f"{stem}.{lib}.npy" for lib in ("autograd", "autonp")]
        if all(p.exists() for p in g):
            a, b = np.load(g[0]), np.load(g[1])
            grad = (f"{np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300):.1e}" if a.shape == b.shape
                    else f"shapes {a.shape} / {b.shape}")
        else:
            grad = "—"
        fig = figures(out_h, out_p)
        state = lambda rc: "yes" if rc == 0 else ("timed out" if rc == -1 else f"exit {rc}")  # noqa: E731
        print(f"| {prog} | {state(rc_h)} / {state(rc_p)} | {grad} | "
              f"{'text differs' if fig is None else f'{fig:.1e}'} | {len(out_h)} / {len(out_p)} |", flush=True)
    print(f"\n(work files in {work})")


if __name__ == "__main__":
    main()
