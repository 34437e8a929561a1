# Two commands: `make run` sets up and runs the service; `make test` sets up and runs every test.
# The virtualenv (.venv) and the Rust build (native/target) are cached in the work tree.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NATIVE_SOURCES := $(shell find native -name '*.rs' -o -name 'Cargo.toml' | grep -v target)
SO_STAMP := $(VENV)/.native-built
PROTOS  := $(shell find proto -name '*.proto')

PROTOC_TOOLS := grpcio-tools==1.85.1
# The SDK's copy of the gRPC modules comes from an older generator, so that its runtime floors
# (grpcio, protobuf) still install on Python 3.9; it runs in a virtualenv of its own.
SDK_PROTOC_TOOLS := grpcio-tools==1.66.2
SDK_PROTOC_VENV  := .cache/proto-sdk
SDK      := sdk/python
SDK_STAMP := $(VENV)/.sdk-installed
# The browser SDK (sdk/js): npm installs its build tools into sdk/js/node_modules (cached), and
# esbuild writes tracker.js, sdk.js and sdk.d.ts into the package's static/ directory.
JS       := sdk/js
JS_STAMP := $(JS)/node_modules/.installed
JS_BUILT := python/reactor_analytics/static/tracker.js
JS_SOURCES := $(wildcard $(JS)/src/*.ts) $(JS)/build.mjs $(JS)/tsconfig.json $(JS)/package.json
# PostHog's and Segment's browser SDKs from npm, unchanged, for tests/test_dropin_browser.py:
# pinned in tests/sdks/package.json and installed (cached) into tests/sdks/node_modules.
SDKS_JS       := tests/sdks
SDKS_JS_STAMP := $(SDKS_JS)/node_modules/.installed
# The dashboard (dashboard/): the same way, into static/dashboard/ (index.html + hashed assets).
DASH       := dashboard
DASH_STAMP := $(DASH)/node_modules/.installed
DASH_BUILT := python/reactor_analytics/static/dashboard/index.html
DASH_SOURCES := $(wildcard $(DASH)/src/*.ts $(DASH)/src/*.css $(DASH)/src/*.html $(DASH)/src/pages/*.ts) \
                $(DASH)/build.mjs $(DASH)/tsconfig.json $(DASH)/package.json

.PHONY: proto run test test-rust test-python test-js sdk-js dashboard setup bench bench-ingest bench-query bench-sdk bench-disk bench-workers bench-dropin bench-web bench-dashboard bench-idle clean

setup: $(SO_STAMP) $(SDK_STAMP) $(JS_BUILT) $(DASH_BUILT)

$(STAMP): pyproject.toml scripts/system-deps.sh
	./scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check 'maturin>=1.5,<2'
	touch $(STAMP)

$(SO_STAMP): $(STAMP) $(NATIVE_SOURCES)
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --extras test
	touch $(SO_STAMP)

# The Python SDK (its own distribution, sdk/python), editable: the tests import it from there.
$(SDK_STAMP): $(STAMP) $(SDK)/pyproject.toml
	$(BIN)/pip install -q --disable-pip-version-check -e '$(SDK)[grpc,orjson]'
	touch $(SDK_STAMP)

$(JS_STAMP): $(STAMP) $(JS)/package.json $(JS)/package-lock.json
	cd $(JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

$(JS_BUILT): $(JS_STAMP) $(JS_SOURCES)
	cd $(JS) && node build.mjs

sdk-js: $(JS_BUILT)

$(SDKS_JS_STAMP): $(STAMP) $(SDKS_JS)/package.json $(SDKS_JS)/package-lock.json
	cd $(SDKS_JS) && npm ci --no-audit --no-fund --loglevel=error
	touch $(SDKS_JS_STAMP)

$(DASH_STAMP): $(STAMP) $(DASH)/package.json $(DASH)/package-lock.json
	cd $(DASH) && npm ci --no-audit --no-fund --loglevel=error
	touch $(DASH_STAMP)

$(DASH_BUILT): $(DASH_STAMP) $(DASH_SOURCES)
	cd $(DASH) && node build.mjs

dashboard: $(DASH_BUILT)

# Node's test runner; it prints tracker.js's gzip size and fails over 3 KB.
test-js: $(JS_BUILT)
	cd $(JS) && node --test test/*.test.mjs

# The gRPC modules are generated from proto/ (scripts/gen_proto.py) and committed, so that any
# build of the package carries them; tests/test_proto_generated.py checks they match proto/.
# The SDK's own copy is generated the same way by its older grpcio-tools.
proto: $(STAMP)
	$(BIN)/pip install -q --disable-pip-version-check '$(PROTOC_TOOLS)'
	$(BIN)/python scripts/gen_proto.py
	test -x $(SDK_PROTOC_VENV)/bin/python || $(PYTHON) -m venv $(SDK_PROTOC_VENV)
	$(SDK_PROTOC_VENV)/bin/pip install -q --disable-pip-version-check '$(SDK_PROTOC_TOOLS)'
	$(SDK_PROTOC_VENV)/bin/python scripts/gen_proto.py --out $(SDK)/src/reactor_analytics_sdk/transports/gen

run: setup
	$(BIN)/reactor serve

test: setup test-rust test-js test-python

test-rust:
	cd native && cargo test -p reactor-core -q

test-python: setup $(SDKS_JS_STAMP)
	$(BIN)/pytest -q

bench: bench-ingest bench-query bench-web bench-sdk bench-disk bench-workers

bench-ingest: setup
	$(BIN)/python bench/ingest.py

bench-workers: setup
	$(BIN)/python bench/workers.py

bench-dropin: setup
	$(BIN)/python bench/dropin.py

bench-disk: setup
	$(BIN)/python bench/disk.py

bench-sdk: setup
	$(BIN)/python bench/sdk.py

bench-web: setup
	$(BIN)/python -c "import chdb" 2>/dev/null || $(BIN)/pip install -q 'chdb>=4'
	$(BIN)/python bench/web.py

# What an idle install costs (CPU of the engine and of the whole service), beside the 10 Hz poll.
bench-idle: setup
	$(BIN)/python bench/idle.py

# First render of the web overview in Chromium over bench/web.py's dataset, beside the web queries.
bench-dashboard: setup
	$(BIN)/python bench/dashboard.py

bench-query: setup
	$(BIN)/python -c "import chdb" 2>/dev/null || $(BIN)/pip install -q 'chdb>=4'
	$(BIN)/python bench/query.py

clean:
	rm -rf $(VENV) native/target .reactor $(JS)/node_modules $(JS)/build $(DASH)/node_modules $(SDKS_JS)/node_modules python/reactor_analytics/static
