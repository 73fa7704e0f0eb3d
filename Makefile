# The two commands of the README's quick start.
PY := .venv/bin/python
PORT ?= 8501

.PHONY: demo test setup setup-dev bench evaluate

demo: setup  ## set up, prepare the demo catalog (first run imports and indexes it) and open the console
	$(PY) -m streamlit run app.py --server.port $(PORT)

test: setup-dev  ## set up (venv, Chromium, Redis) and run the whole test suite
	$(PY) -m pytest -q

setup:
	bash scripts/setup.sh

setup-dev:
	bash scripts/setup.sh dev

bench: setup-dev
	$(PY) bench/bench_similar.py
	$(PY) bench/bench_events.py
	$(PY) bench/bench_service.py

evaluate: setup
	$(PY) -m engine evaluate
