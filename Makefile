# One-command setup: `make test` and `make demo` install what they need on a fresh machine.
# Uses the active virtualenv if there is one, otherwise creates .venv.
SHELL := /bin/bash
ifdef VIRTUAL_ENV
VENV := $(VIRTUAL_ENV)
else
VENV := .venv
endif
PY := $(VENV)/bin/python
STAMP := $(VENV)/.clothpose-installed
PYX := $(shell find lib -name '*.pyx')
PYTEST_ARGS ?=

.PHONY: install test demo demo-fashionai bench ablation analysis-demo clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml setup.py $(PYX)
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-build-isolation --no-deps -e .
	@touch $@

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS)

demo: install
	$(PY) tools/demo.py

demo-fashionai: install
	$(PY) tools/demo.py --fashionai

bench: install
	for b in data_pipeline evaluation nms postprocess infer analyze detector; do $(PY) bench/$$b.py || exit 1; done

# Landmark error analysis of the demo's submission with detection boxes (run `make demo` first);
# refreshes the README figure docs/analysis_ap_improvement.png.
DEMO_SUB := output/demo/submission/det
analysis-demo: install
	$(PY) tools/analyze.py --gt data/synthetic/prepared/annotations/validation_coco.json \
		--results $(DEMO_SUB)/keypoints_validation_results.json --out $(DEMO_SUB)/analysis
	mkdir -p docs && cp $(DEMO_SUB)/analysis/ap_improvement.png docs/analysis_ap_improvement.png

ablation: install  # long: aggregation + finetuning vs direct 294 training on synthetic data
	$(PY) bench/ablation_synthetic.py

clean:
	rm -rf build lib/*.egg-info $(STAMP)
	find lib -name '*.so' -delete
