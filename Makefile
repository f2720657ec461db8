# Set-up and everyday commands. `make build` and `make test` work on a fresh machine.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PUBLISH := $(VENV)/bin/publish
VNU_JAR := node_modules/vnu-jar/build/dist/vnu.jar

.PHONY: build test test-fast check serve docs docs-serve screenshots bench bench-compare mutation clean lint messages

$(PY):
	$(PYTHON) -m venv $(VENV)

# The checkout is installed editable as a plain path entry (`editable_mode=compat`: a .pth
# line naming the checkout's folder), not through setuptools' import finder, a module every
# Python start loads, with pathlib and urllib under it, before anything else (`-X importtime`
# puts it at 7 ms; a command loads most of that later anyway: about 1.5 ms a start is saved).
EDITABLE := --config-settings editable_mode=compat
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check $(EDITABLE) -e

# the compiled parse (the `fast` extra) where a wheel exists; markdown-it-py alone elsewhere
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP_INSTALL) '.[fast]' || $(PIP_INSTALL) .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP_INSTALL) '.[test,docs]'
	touch $@

$(VNU_JAR):
	-command -v npm >/dev/null && npm install --ignore-scripts --no-save --silent vnu-jar

## build: build the example site into build/
build: $(VENV)/.installed
	$(PUBLISH) build

## messages: extract the reader-facing strings into the .pot and update every catalog
CATALOGS := publish/i18n/catalogs
messages: $(VENV)/.installed
	$(VENV)/bin/pybabel extract --mapping-file babel.cfg --no-location --sort-output \
		--omit-header --add-comments Translators: --keywords N_ --keywords page:2 \
		--keywords abort:2 --output-file $(CATALOGS)/messages.pot publish
	$(VENV)/bin/pybabel update --domain messages --input-file $(CATALOGS)/messages.pot \
		--output-dir $(CATALOGS) --no-fuzzy-matching \
		--ignore-obsolete

## test: lint, then run the whole test suite (the strict docs build and the quick start included)
test: $(VENV)/.installed-test $(VNU_JAR)
	$(VENV)/bin/ruff check publish tests bench
	$(VENV)/bin/ruff format --check publish tests bench
	$(PY) -m pytest -q

## test-fast: lint, then every test but the slowest (those marked `slow`)
test-fast: $(VENV)/.installed-test $(VNU_JAR)
	$(VENV)/bin/ruff check publish tests bench
	$(VENV)/bin/ruff format --check publish tests bench
	$(PY) -m pytest -q -m "not slow"

## docs: build the documentation site strictly into build/docs/ (a broken link fails it)
docs: $(VENV)/.installed-test
	$(VENV)/bin/mkdocs build --strict

## docs-serve: preview the documentation on http://127.0.0.1:8000, reloading on change
docs-serve: $(VENV)/.installed-test
	$(VENV)/bin/mkdocs serve

## screenshots: remake docs/images/essay-page.png and essay-email.png from the example site
screenshots: $(VENV)/.installed-test
	$(PY) -m bench.screenshots

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check publish tests bench

## check: report every problem in the example site
check: $(VENV)/.installed
	$(PUBLISH) check

## serve: preview the example site on http://127.0.0.1:8000, rebuilding on change
serve: $(VENV)/.installed
	$(PUBLISH) serve

## bench: time cold and warm builds of generated sites
bench: $(VENV)/.installed-test
	$(PY) -m bench.run

## bench-compare: the same corpus built by publish, Pelican and Hugo
bench-compare: $(VENV)/.installed
	$(PY) -m bench.compare

## mutation: mutation testing of the ledger, releases, standing and schedule (not in `test`)
## (MUTATION="--module standing --sample 40 --minutes 10" to narrow it)
mutation: $(VENV)/.installed-test
	$(PY) -m bench.mutation $(MUTATION)

clean:
	rm -rf build state/outbox bench/work .pytest_cache test-results
