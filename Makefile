# One entry point for set-up, the demo, the tests and the benchmarks.
# `make demo` and `make test` each create .venv on first use (Python >= 3.10 as `python3`, or PYTHON=...).
# The demo installs only what it runs (paramcount, torch, transformers); the tests install the dev group.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed

.PHONY: venv demo test lint typecheck unit docs bench sweep architectures fuzz clean

venv: $(STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e . --group dev
	touch $(STAMP) $(DEMO_STAMP)

$(DEMO_STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[transformers]'
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	@echo '$$ paramcount count "torch.nn:Linear(784, 10)"'
	@$(BIN)/paramcount count "torch.nn:Linear(784, 10)"
	@echo
	@echo '$$ paramcount count "paramcount.examples:tied_language_model()"'
	@$(BIN)/paramcount count "paramcount.examples:tied_language_model()"
	@$(BIN)/python -c "from paramcount.examples import tied_language_model as m; \
	print('for comparison, summing state_dict() gives', f'{sum(t.numel() for t in m().state_dict().values()):,}', \
	'(the tied weight twice)')"
	@echo
	@$(BIN)/python -c "import torch; from paramcount.examples import tied_language_model as m; \
	torch.save(m().state_dict(), '$(VENV)/tied_state_dict.pt')"
	@echo '$$ paramcount count $(VENV)/tied_state_dict.pt --depth 1   # a torch.save file: torch not imported, no pickle code run'
	@$(BIN)/paramcount count $(VENV)/tied_state_dict.pt --depth 1
	@echo
	@echo '$$ paramcount verify "transformers:GPT2LMHeadModel(transformers:GPT2Config())" --expect 124.4M'
	@$(BIN)/paramcount verify "transformers:GPT2LMHeadModel(transformers:GPT2Config())" --expect 124.4M

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest

# The documentation site (mkdocs.yml, docs/): strict, so a broken link, a stale anchor, a command without help or a
# JSON field without a description fails the build. NO_MKDOCS_2_WARNING silences Material's banner, not a warning.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir $(VENV)/site

test: lint typecheck unit docs

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_modules.py
	$(BIN)/python benchmarks/bench_files.py
	$(BIN)/python benchmarks/bench_bin.py
	$(BIN)/python benchmarks/bench_config.py
	$(BIN)/python benchmarks/bench_remote.py
	$(BIN)/python benchmarks/compare_memory.py
	cd benchmarks && ../$(BIN)/python bench_hostile.py

# Every transformers model class from a tiny config: save_pretrained (then torch.save of the whole module), count the
# result, compare with the live model.
sweep: $(STAMP)
	$(BIN)/python scripts/sweep.py
	$(BIN)/python scripts/sweep.py --whole-module

# Regenerate paramcount's architecture table (src/paramcount/architectures/) from the installed transformers, and the
# tables of torch's tensor operations a pickle may hold (src/paramcount/formats/torch_functions.json) from torch, of
# transformers' Enum classes (formats/enums.json), and of the classes of torch, transformers and kernels whose
# __setstate__ is not audited (formats/setstate.json).
architectures: $(STAMP)
	$(BIN)/python scripts/architectures.py
	$(BIN)/python scripts/torch_functions.py
	$(BIN)/python scripts/enums.py
	$(BIN)/python scripts/setstate.py

# Coverage-guided fuzzing (atheris) of each reader, and of paramcount against the real loaders (the -oracle
# targets), for FUZZ_SECONDS each; findings land in fuzz/findings/.
FUZZ_SECONDS ?= 600
FUZZ_READERS ?= safetensors torchzip legacy gguf dcp pickle numpy pickle-oracle zip-oracle npy-oracle
fuzz: $(STAMP)
	$(BIN)/python -m pip install --quiet -c constraints.txt --group fuzz
	$(BIN)/python fuzz/seeds.py
	mkdir -p fuzz/findings
	for reader in $(FUZZ_READERS); do \
		(cd fuzz && ../$(BIN)/python fuzz.py $$reader -max_total_time=$(FUZZ_SECONDS) -timeout=5 -rss_limit_mb=2048 \
			-artifact_prefix=findings/$$reader- corpus/$$reader > findings/$$reader.log 2>&1); \
		echo "$$reader: $$(grep -E 'Done [0-9]+ runs' fuzz/findings/$$reader.log || tail -n 3 fuzz/findings/$$reader.log)"; \
	done
	@if ls fuzz/findings | grep -qE -- '-(crash|timeout|oom|leak)-'; then \
		echo "findings:"; ls fuzz/findings | grep -E -- '-(crash|timeout|oom|leak)-'; exit 1; fi

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache site
