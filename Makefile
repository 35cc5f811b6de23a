# Two entry points for a fresh machine (each installs what it needs):
#   make demo   the blog reproduction: costs, accuracy, loss curves, prediction grid, graph pictures -> out/blog
#   make test   the whole test suite (slow end-to-end MNIST tests, the notebook, the docs, the browser)
PY ?= python3
PIP = $(PY) -m pip install --quiet --disable-pip-version-check
MNIST ?= $(firstword $(AUTONP_MNIST) $(wildcard ../shared/data/mnist.npz))
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench graphviz minibatch gradients cnn layers derived docs

# Debian packages, installed where missing: graphviz's `dot` for every picture; `make test` also needs
# chromium and chromium-driver (the explorer's tests drive a real browser)
APT_NEEDS = dot:graphviz
test: APT_NEEDS += chromium:chromium chromedriver:chromium-driver
graphviz:
	@missing="$$(for need in $(APT_NEEDS); do command -v $${need%%:*} >/dev/null 2>&1 || echo $${need#*:}; done)"; \
	if [ -n "$$missing" ]; then $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

demo: graphviz
	$(PIP) -e ".[examples]"
	$(PY) examples/blog_mnist.py $(if $(MNIST),--data $(MNIST)) --out out/blog

test: graphviz
	$(PIP) -e ".[dev]"
	$(PY) -m ruff check autonp tests examples benchmarks
	$(PY) -m mypy --follow-imports=silent --ignore-missing-imports tests/typing
	AUTONP_REQUIRE_TOOLS=1 $(PY) -m pytest

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

docs:
	$(PIP) -e ".[docs]"
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

bench:
	$(PIP) -e ".[dev]"
	$(PY) benchmarks/run.py
