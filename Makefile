# Two entry points for a fresh machine (each installs what it needs):
#   make demo   the blog reproduction: costs, accuracy, loss curves, prediction grid, graph pictures -> out/blog
#   make test   the whole test suite (slow end-to-end MNIST tests included)
PY ?= python3
PIP = $(PY) -m pip install --quiet --disable-pip-version-check
MNIST ?= $(firstword $(AUTONP_MNIST) $(wildcard ../shared/data/mnist.npz))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench graphviz minibatch gradients cnn layers derived

graphviz:  # the `dot` program, from Debian's graphviz package, where it is missing
	@command -v dot >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq graphviz; }

demo: graphviz
	$(PIP) -e ".[examples]"
	$(PY) examples/blog_mnist.py $(if $(MNIST),--data $(MNIST)) --out out/blog

test: graphviz
	$(PIP) -e ".[dev]"
	$(PY) -m ruff check autonp tests examples benchmarks
	$(PY) -m pytest

gradients: graphviz
	$(PIP) -e ".[examples]"
	$(PY) examples/blog_gradients.py $(if $(MNIST),--data $(MNIST))

minibatch: graphviz
	$(PIP) -e ".[examples]"
	$(PY) examples/mnist_minibatch.py $(if $(MNIST),--data $(MNIST)) --out out/minibatch

cnn: graphviz
	$(PIP) -e ".[examples]"
	$(PY) examples/mnist_cnn.py $(if $(MNIST),--data $(MNIST)) --out out/cnn

layers:
	$(PIP) -e ".[examples]"
	$(PY) examples/numpy_layers.py

derived:
	$(PIP) -e ".[examples]"
	$(PY) examples/blog_derived.py $(if $(MNIST),--data $(MNIST))

bench:
	$(PIP) -e ".[dev]"
	$(PY) benchmarks/run.py
