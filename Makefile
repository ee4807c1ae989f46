# Sinfonia: `make demo` runs the whole flow on one machine, `make test` runs every test.
# Both set up what they need: a virtualenv in .venv, Debian packages, and the
# Kubernetes binaries (built once from Debian's source package, cached in /opt).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
DEMO_ARGS ?=

.PHONY: demo test check lint typecheck imports docs system kubernetes venv clean

# As root the demo installs what it uses (wireguard-go, Prometheus); without root it runs on
# loopback with config-only tunnels. It needs no Kubernetes: its cloudlets use the local driver.
demo: venv
	@if [ "$$(id -u)" -eq 0 ]; then bash deploy/dev/install-system-packages.sh; \
	else echo "not root: skipping system packages; the demo runs on loopback"; fi
	$(BIN)/python deploy/demo/demo.py $(DEMO_ARGS)

# pytest exits 5 when it collected no test; for us that is a failure, not a pass.
test: venv system kubernetes check
	$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

check: lint typecheck imports

# The README's configuration reference, generated from the settings models.
docs: venv
	$(BIN)/python deploy/dev/config_reference.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

imports: venv
	$(BIN)/lint-imports

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

system:
	bash deploy/dev/install-system-packages.sh

# The control plane for every Kubernetes test, and a kubelet and kube-proxy for the e2e tier
# with real pods (tests/e2e/test_real_pods.py).
kubernetes: system
	SINFONIA_K8S_COMPONENTS="kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy" \
	bash deploy/dev/build-kubernetes.sh

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache *.egg-info
