# The two commands a new user needs (see README):
#   make run    set up .venv and run the whole benchmark on the embedded (simulated) default
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= 2

.PHONY: run run-geuvadis test lint clean

$(BIN)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

run: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --cores $(CORES) --report results/sim/report.html
	@echo "report: results/sim/report.html"

run-geuvadis: $(BIN)/.installed
	$(BIN)/snakemake --cores $(CORES) --configfile config/geuvadis_chr22.yaml
	$(BIN)/snakemake --cores $(CORES) --configfile config/geuvadis_chr22.yaml --report results/geuvadis_chr22/report.html
	@echo "report: results/geuvadis_chr22/report.html"

test: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/pytest -ra

lint: $(BIN)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/snakemake --lint

clean:
	rm -rf results logs .snakemake
