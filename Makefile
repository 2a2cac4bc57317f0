# Entry points: `make render` (render the default inventory, no cluster) and `make test` (every gate).
# Both install what they need into virtualenvs inside the checkout on first use.
SHELL := /bin/bash
PYTHON ?= python3
INVENTORY ?= inventories/gke_l4
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/llmaas/platform
# Outside the checkout: inside it, ansible-test would list files through git and skip the ignored copy.
SANITY_DIR := $(or $(TMPDIR),/tmp)/llmaas-sanity/ansible_collections/llmaas/platform
PYTEST_ARGS ?=

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_NOCOLOR := 1
export PATH := $(BIN):$(PATH)
export LLMAAS_MODEL_PYTHON ?= $(CURDIR)/.venv-model/bin/python
export LLMAAS_CHECKOV ?= $(CURDIR)/.venv-checkov/bin/checkov
export LLMAAS_NCA ?= $(CURDIR)/.venv-nca/bin/nca

.PHONY: help setup setup-test render render-all test lint pytest molecule controlplane sanity build bench pin-digests clean

help:
	@echo "make render [INVENTORY=inventories/vast]  render the stack into rendered/<inventory>/ (no cluster)"
	@echo "make test                                 lint, sanity, unit, render+schema, real e2e, real control plane"
	@echo "make lint | pytest | molecule | controlplane | sanity | build | bench | pin-digests | clean"

# --- set-up ----------------------------------------------------------------------------------------------
$(VENV)/.controller: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(VENV)/.test: $(VENV)/.controller requirements-test.txt constraints.txt
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-test.txt -c constraints.txt
	touch $@

# llama.cpp of the CPU model server, built portably: GGML_NATIVE=OFF (no -march=native: tuned to the build machine,
# it crashed on a VM whose CPUID lists AVX-512/AMX it cannot run) and a fixed AVX2/FMA/F16C/BMI2 baseline, AVX-512
# and AMX OFF (options of llama-cpp-python 0.3.36 vendor/llama.cpp/ggml/CMakeLists.txt; the baseline is explicit
# because SOURCE_DATE_EPOCH in the environment would turn it off). Not GGML_CPU_ALL_VARIANTS: it picks a variant
# from the same CPUID at run time. The stamp's name hashes the flags: changing them rebuilds the venv from scratch
# (--no-cache-dir: pip's wheel cache ignores CMAKE_ARGS, llama-cpp-python README "rebuild").
MODEL_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
  -DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF \
  -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
MODEL_STAMP := .venv-model/.stamp-$(shell printf '%s' '$(MODEL_CMAKE_ARGS)' | sha256sum | cut -c1-12)

$(MODEL_STAMP): requirements-model.txt constraints-model.txt
	rm -rf .venv-model
	$(PYTHON) -m venv .venv-model
	CMAKE_ARGS='$(MODEL_CMAKE_ARGS)' .venv-model/bin/pip install -q --disable-pip-version-check --no-cache-dir \
	  -r requirements-model.txt -c constraints-model.txt
	touch $@

.venv-checkov/.stamp: requirements-checkov.txt constraints-checkov.txt
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install -q --disable-pip-version-check -r requirements-checkov.txt -c constraints-checkov.txt
	touch $@

.venv-nca/.stamp: requirements-nca.txt constraints-nca.txt
	$(PYTHON) -m venv .venv-nca
	.venv-nca/bin/pip install -q --disable-pip-version-check -r requirements-nca.txt -c constraints-nca.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../.. $@

# Debian packages the gates run for real: promtool (package prometheus) checks and unit-tests the rendered rules,
# shellcheck serves ansible-test's shell sanity test, lua5.1 runs the Argo CD health script of the app-of-apps.
.cache/.system-tools:
	@command -v promtool >/dev/null && command -v shellcheck >/dev/null && command -v lua5.1 >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	  prometheus shellcheck lua5.1 >/dev/null; }
	@mkdir -p .cache && touch $@

# Byte-compile the collection's Python plugins: every ansible-playbook run (and each of its task workers) imports
# them, and where PYTHONDONTWRITEBYTECODE is set (as on CI machines) Python would otherwise compile them each time.
# Stale files are recompiled here; Python checks each cached file against its source anyway.
setup: $(VENV)/.controller $(COLLECTION_LINK)
	@$(BIN)/python -m compileall -q plugins >/dev/null

setup-test: setup $(VENV)/.test $(MODEL_STAMP) .venv-checkov/.stamp .venv-nca/.stamp .cache/.system-tools

# --- the main job --------------------------------------------------------------------------------------
render: setup
	$(BIN)/ansible-playbook -i $(INVENTORY) playbooks/site.yml

render-all: setup
	$(MAKE) render INVENTORY=inventories/gke_l4
	$(MAKE) render INVENTORY=inventories/vast

# --- gates -----------------------------------------------------------------------------------------------
test: setup-test controlplane lint sanity pytest molecule

lint: setup-test
	$(BIN)/ruff check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	@for p in playbooks/*.yml molecule/kind/{create,prepare,converge,verify,destroy}.yml; do \
	  $(BIN)/ansible-playbook --syntax-check -i inventories/gke_l4 $$p >/dev/null || exit 1; echo "syntax ok: $$p"; \
	done
	$(MAKE) build

build: setup
	$(BIN)/ansible-galaxy collection build --force --output-path build/

# ansible-test needs the collection under ansible_collections/<namespace>/<name>: test a copy of what the collection
# ships (tests, benchmarks, tools and molecule scenarios are development tooling, checked by ruff and pytest instead).
sanity: setup-test
	rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR)
	git ls-files -co --exclude-standard | grep -vE '^(tests|benchmarks|tools|molecule)/' \
	  | while read -r f; do [ -e "$$f" ] && echo "$$f"; done \
	  | xargs -d '\n' cp --parents -t $(SANITY_DIR)
	tests/sanity/offline-pip-bootstrap.sh
	cd $(SANITY_DIR) && $(BIN)/ansible-test sanity --local --python 3.11 --color no

pytest: setup-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The real control plane (kube-apiserver, controller-manager, scheduler, etcd, kwok) built from the Go modules pinned
# in tests/controlplane into a cache outside the checkout, keyed by those pins (a second run builds nothing).
controlplane:
	tests/controlplane/build.sh

# The control-plane scenarios run here (real API server and controllers, kwok nodes, no Docker); molecule/kind is
# for users with Docker.
# A CI summary shows only the end of the output, after molecule's recap: on failure, repeat the failed tasks last.
molecule: setup-test controlplane
	@mkdir -p .cache; for scenario in controlplane controlplane_vast; do \
	  $(BIN)/molecule test -s $$scenario 2>&1 | tee .cache/molecule-$$scenario.log; \
	  [ "$${PIPESTATUS[0]}" -eq 0 ] || { echo "=== molecule $$scenario failed; the failed tasks:"; \
	    sed -e 's/\x1b\[[0-9;]*m//g' .cache/molecule-$$scenario.log | grep -B2 -A8 -E '(fatal|failed): \[|\[ERROR\]' \
	      | cut -c1-400 | tail -n 80; exit 1; }; \
	done

# Needs registry access: resolves every tag of llmaas_images and writes tag@digest into playbooks/vars/versions.yml
# (CHECK=1: write nothing, fail when an image is unpinned or its tag moved).
pin-digests: setup
	$(BIN)/python tools/pin_image_digests.py $(if $(CHECK),--check)

bench: setup-test controlplane
	$(BIN)/python benchmarks/render.py
	$(BIN)/python benchmarks/keys.py
	$(BIN)/python benchmarks/gateway_overhead.py
	$(BIN)/python benchmarks/apply.py

clean:
	rm -rf build rendered .collections .cache/.system-tools
