# wfobj: common entry points. `make demo` is the newcomer's first command.
PY ?= .venv/bin/python

.PHONY: demo test lint bench bench-smoke ui-screenshots

demo:  ## fresh clone -> served API running examples/wordcount.yaml end to end
	bash scripts/demo.sh

test:  ## the whole suite (Docker tests need: eval "$$(bash scripts/ensure-docker.sh)")
	bash .ci/run

lint:
	$(PY) -m ruff check .

ui-screenshots:  ## docs/ui/*.png from a real run (needs chromium, chromium-driver; docs/ui.md)
	eval "$$(bash scripts/ensure-docker.sh)" && $(PY) scripts/ui-screenshots.py

BENCHES = api cache engine executor ingest slurm startup sync trees

bench:  ## every bench at its default size (Docker ones need DOCKER_HOST, slurm.py SLURM_CONF; docs/bench.md)
	set -e; for b in $(BENCHES); do $(PY) bench/$$b.py; done

bench-smoke:  ## every bench in --smoke mode, as the test suite runs them
	$(PY) -m pytest -q tests/repo/test_bench_smoke.py

bench-%:  ## one bench at its default size: make bench-api, bench-ingest, ...
	$(PY) bench/$*.py
