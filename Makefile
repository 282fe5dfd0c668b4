# wfobj: common entry points. `make demo` is the newcomer's first command.
PY ?= .venv/bin/python

.PHONY: demo test lint bench-api

demo:  ## fresh clone -> served API running examples/wordcount.yaml end to end
	bash scripts/demo.sh

test:  ## the whole suite (Docker tests need: eval "$$(bash scripts/ensure-docker.sh)")
	bash .ci/run

lint:
	$(PY) -m ruff check .

bench-api:  ## REST API benchmark (bench/api.py)
	$(PY) bench/api.py
