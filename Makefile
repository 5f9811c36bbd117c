# clipdex: the README's commands. CMake does the building; this file only
# strings the steps together. Every target bootstraps first (quiet and quick
# when there is nothing to do).
#
#   make demo     bootstrap, build, ingest the sample catalog, search it, serve it (Ctrl-C stops)
#   make test     bootstrap, build (plain and ASan+UBSan), run every suite through ctest
#   make build    bootstrap and build into build/
#   make install  install under PREFIX (default /usr/local)
#   make fuzz     build libFuzzer targets with clang into build-fuzz/
#   make models   regenerate the shipped models, contracts, golden packs and samples (PyTorch; slow)
#   make bench-models  full-size random-weight models in models/bench-* for performance work (not committed),
#                      with their int8 variants (make bench-int8: those alone)
#   make models-int8   int8 variants of the shipped tiny models (contracts/tiny-*-int8.json; not committed)
#   make bench-report  the clipdex bench matrix on the ViT-B/32- and SigLIP-base-size bench models (+ int8 when present)
#   make clean

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=
include tools/ort.lock
ORT_ROOT   := $(or $(ONNXRUNTIME_ROOT),$(CURDIR)/.cache/onnxruntime-$(ORT_VERSION))
GENERATOR  := $(shell command -v ninja >/dev/null 2>&1 && echo Ninja || echo "Unix Makefiles")
CMAKE_COMMON = -G "$(GENERATOR)" -DONNXRUNTIME_ROOT="$(ORT_ROOT)" -DCDX_WERROR=ON

.PHONY: all bootstrap build build-asan test test-unit demo install fuzz clean models bench-models bench-report toolchain \
        bench-int8 models-int8 \
        bench bench-server

all: build

bootstrap:
	@tools/bootstrap

$(BUILD)/CMakeCache.txt: | bootstrap
	@cmake -S . -B $(BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null

$(ASAN_BUILD)/CMakeCache.txt: | bootstrap
	@cmake -S . -B $(ASAN_BUILD) $(CMAKE_COMMON) -DCMAKE_BUILD_TYPE=Debug \
	    "-DCDX_SANITIZE=address;undefined" >/dev/null

build: bootstrap $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

build-asan: bootstrap $(ASAN_BUILD)/CMakeCache.txt
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

# Every suite in the plain build (except those labelled slow), then the unit
# suites again under ASan+UBSan.
# The test target also brings Debian's chromium, which the browser checks
# (search page, bench report) drive headless; build and demo do not need it.
test: build build-asan
	@tools/bootstrap --browser
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow $(CTEST_ARGS)
	@cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS) -L unit -LE slow $(CTEST_ARGS)

test-slow: build
	@cd $(BUILD) && ctest --output-on-failure -L slow $(CTEST_ARGS)

# The main job on the embedded defaults: ingest the sample catalog (images and captions) with the
# shipped model into a data directory under build/ (running it again finds everything unchanged),
# search it from the command line, then serve it until Ctrl-C (which answers what is queued and
# checkpoints the index). DEMO_LISTEN=host:port when 8080 is taken. Uploads from the page need
# the token printed before the server starts.
DEMO_DATA    ?= $(BUILD)/demo-data
DEMO_QUERIES ?= a red star|two blue squares|a small yellow circle on a black background
DEMO_LISTEN  ?= 127.0.0.1:8080
demo: build
	@$(BUILD)/clipdex --log-level warn ingest --data $(DEMO_DATA) --captions samples/shapes/manifest.jsonl
	@echo
	@printf '%s\n' "$(DEMO_QUERIES)" | tr '|' '\n' | $(BUILD)/clipdex --log-level warn search --data $(DEMO_DATA) --stdin -k 5
	@[ -s $(DEMO_DATA)/token ] || (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' >$(DEMO_DATA)/token)
	@echo; echo "upload token (the page's upload form, or Authorization: Bearer): $$(cat $(DEMO_DATA)/token)"
	@exec $(BUILD)/clipdex --log-level warn serve --data $(DEMO_DATA) --listen $(DEMO_LISTEN) \
	    --token-file $(DEMO_DATA)/token

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

fuzz: bootstrap
	@cmake -S . -B $(FUZZ_BUILD) $(CMAKE_COMMON) -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
	    -DCDX_FUZZ=ON "-DCDX_SANITIZE=address;undefined" >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@echo "fuzz targets in $(FUZZ_BUILD)/tests/: run e.g. $(FUZZ_BUILD)/tests/fuzz_contract tests/fuzz/corpus/contract"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# ---- the model toolchain (tools/model; Debian's python3-torch & co., not the python first on PATH) ----
TOOLCHAIN_PY ?= /usr/bin/python3
BENCH_MODELS := models/bench-vit-b-32/contract.json models/bench-vit-b-16/contract.json \
                models/bench-siglip-base/contract.json
MODEL_TOOLS  := tools/model/convert.py tools/model/arch.py tools/model/golden.py tools/model/common.py

toolchain:
	@tools/bootstrap --toolchain

# Everything tools/model makes, from seed 1: samples, datasets, tokenizers, weights, ONNX, contracts, golden packs.
models: toolchain
	@OPENBLAS_NUM_THREADS=1 $(TOOLCHAIN_PY) tools/model/regen.py $(REGEN_ARGS)

BENCH_INT8_MODELS := models/bench-vit-b-32-int8/contract.json models/bench-siglip-base-int8/contract.json
TINY_INT8         := contracts/tiny-clip-int8.json contracts/tiny-siglip-int8.json

bench-models: $(BENCH_MODELS) $(BENCH_INT8_MODELS)
bench-int8: $(BENCH_INT8_MODELS)

# int8 towers (tools/model/quantize.py; docs/bench.md "int8") beside the fp32 ones, the contract in its own folder.
$(BENCH_INT8_MODELS): models/bench-%-int8/contract.json: models/bench-%/contract.json tools/model/quantize.py
	@OPENBLAS_NUM_THREADS=1 $(TOOLCHAIN_PY) tools/model/quantize.py --contract $< --id bench-$*-int8 --out-contract $@

# The shipped tiny models' int8 variants: made from the committed fp32 models (not committed themselves,
# so a retrained model never leaves a stale int8 contract behind; tools/model/regen.py makes them too).
models-int8: $(TINY_INT8)
contracts/tiny-%-int8.json: contracts/tiny-%.json tools/model/quantize.py
	@OPENBLAS_NUM_THREADS=1 $(TOOLCHAIN_PY) tools/model/quantize.py --contract $<

models/bench-vit-b-%/contract.json: $(MODEL_TOOLS) | toolchain
	@OPENBLAS_NUM_THREADS=1 $(TOOLCHAIN_PY) tools/model/convert.py --random-init --size vit-b-$* --out models/bench-vit-b-$*

models/bench-siglip-base/contract.json: $(MODEL_TOOLS) | toolchain
	@OPENBLAS_NUM_THREADS=1 $(TOOLCHAIN_PY) tools/model/convert.py --random-init --size siglip-base --out models/bench-siglip-base

# ---- the ingest benchmark (tools/bench/ingest_bench.sh; docs/ingest.md) ----
# clipdex ingest vs the bare image tower (same run, same batch and threads) and vs a Python
# Pillow + PyTorch pipeline, on 2000 generated 1-12 MP photos with the ViT-B/32-size model.
bench: build models/bench-vit-b-32/contract.json
	@BUILD=$(BUILD) tools/bench/ingest_bench.sh

# ---- the latency matrix (clipdex bench; docs/bench.md) ----
# Every provider spec x threads x opt level x bucket of the ViT-B/32- and SigLIP-base-size bench models,
# and their int8 variants when tools/model/quantize.py has written them; then the encoder's overhead
# over a bare ORT loop. Writes cards, the HTML report and Markdown tables into BENCH_REPORT_DIR.
# Verdicts that fail are in the report (and printed); they do not stop the target.
BENCH_REPORT_DIR ?= $(BUILD)/bench-report
BENCH_FP32       := models/bench-vit-b-32/contract.json models/bench-siglip-base/contract.json
BENCH_INT8       := $(wildcard models/bench-vit-b-32-int8/contract.json models/bench-siglip-base-int8/contract.json \
                      contracts/bench-vit-b-32-int8.json contracts/bench-siglip-base-int8.json)
BENCH_ARGS       ?= --threads 1,2 --opt disabled,basic,all --batch 1,8,32 --seq 16,77 --duration 3 --min-runs 6 \
                    --min-int8-speedup 1.7

bench-report: SHELL := /bin/bash
bench-report: build $(BENCH_FP32)
	@mkdir -p $(BENCH_REPORT_DIR)
	@$(BUILD)/clipdex --log-level warn bench $(addprefix --contract ,$(BENCH_FP32) $(BENCH_INT8)) $(BENCH_ARGS) \
	    --json $(BENCH_REPORT_DIR)/cards.json --report $(BENCH_REPORT_DIR)/report.html \
	    --markdown $(BENCH_REPORT_DIR)/tables.md | tee $(BENCH_REPORT_DIR)/matrix.txt; \
	    rc=$${PIPESTATUS[0]}; [ $$rc -le 1 ] || exit $$rc
	@$(BUILD)/clipdex --log-level warn bench --overhead --contract $(firstword $(BENCH_FP32)) --batch 32 \
	    --threads 2 --duration 3 --rounds 3 --json $(BENCH_REPORT_DIR)/overhead.json \
	    | tee $(BENCH_REPORT_DIR)/overhead.txt; rc=$${PIPESTATUS[0]}; [ $$rc -le 1 ] || exit $$rc
	@echo "bench report: $(BENCH_REPORT_DIR)/report.html (cards.json, tables.md, overhead.json)"

# ---- the server benchmark (tools/bench/server_bench.sh; docs/server.md "Benchmark") ----
# clipdex serve with the default model over 100k items (the sample catalog + synthetic vectors):
# capacity, 2x and 10x open-loop overload, a batch flood against interactive latency, /healthz.
bench-server: build
	@tools/bench/server_bench.sh --build $(BUILD) $(BENCH_SERVER_ARGS)
