# The two commands a new user needs (see README):
#   make run    set up .venv and run the whole benchmark on the embedded (simulated) default
#   make test   set up .venv and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
CORES  ?= 2

.PHONY: run run-geuvadis test lint clean alphagenome-env

$(BIN)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-nodeps.txt
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

# The AlphaGenome client needs anndata (pandas<3): its own venv, never the core stack. Then set
# the AlphaGenome scorer's `python: .venv-alphagenome/bin/python` (see README).
AG_VENV ?= .venv-alphagenome

alphagenome-env: $(AG_VENV)/.installed

$(AG_VENV)/.installed: envs/alphagenome.requirements.txt pyproject.toml
	$(PYTHON) -m venv $(AG_VENV)
	$(AG_VENV)/bin/pip install --quiet --upgrade pip
	$(AG_VENV)/bin/pip install --quiet -r envs/alphagenome.requirements.txt
	$(AG_VENV)/bin/pip install --quiet --no-deps -e .
	touch $@
	@echo "AlphaGenome env ready: set the scorer's  python: $(AG_VENV)/bin/python"
