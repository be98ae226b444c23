# NOORMME - the two commands are `make run` and `make test`.
SHELL := /bin/bash
JOBS  ?= 2
BUILD ?= build
ASAN  ?= build-asan
TSAN  ?= build-tsan
FUZZ_SECONDS ?= 60

.PHONY: all deps build build-asan build-tsan run test test-ts fuzz bench format format-check clean

all: build

deps:
	@./deploy/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNOORMME_WERROR=ON >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j$(JOBS)

# AddressSanitizer + UBSan, with clang so the libFuzzer targets build too.
build-asan: deps
	[ -f $(ASAN)/Makefile ] || CC=clang cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug \
	  -DNOORMME_SANITIZE=ON -DNOORMME_FUZZ=ON -DNOORMME_WERROR=ON >/dev/null
	cmake --build $(ASAN) -j$(JOBS)

# ThreadSanitizer, with clang; optimised, because TSan slows code down 5-15x.
# make test runs its integration tests (servers and clients both under TSan).
build-tsan: deps
	[ -f $(TSAN)/Makefile ] || CC=clang cmake -S . -B $(TSAN) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DNOORMME_TSAN=ON -DNOORMME_WERROR=ON >/dev/null
	cmake --build $(TSAN) -j$(JOBS)

# Starts noormd in the foreground with its defaults: ./var/noormme.sock and
# ./var/noormme.db. Extra flags: make run ARGS="--log-level debug".
run: build
	@mkdir -p var
	@# A development master key, made once, readable by this user only.
	@[ -n "$$NOORMME_KEY$$NOORMME_KEY_FILE" ] || [ -f var/noormme.key ] || \
	  (umask 077 && head -c 32 /dev/urandom | base64 > var/noormme.key && \
	   echo "make run: created development key var/noormme.key")
	exec ./$(BUILD)/noormd $$([ -n "$$NOORMME_KEY$$NOORMME_KEY_FILE" ] || echo --key-file var/noormme.key) $(ARGS)

# Every test: unit + integration, then the same under ASan/UBSan with a
# short fuzz run, then the integration tests under ThreadSanitizer, then the
# TypeScript client's tests (adapter-ts). Ends with one "N passed, N failed"
# line.
test: build build-asan build-tsan
	@FUZZ_SECONDS=$(FUZZ_SECONDS) ./tests/run-all.sh $(BUILD) $(ASAN) $(TSAN)

# Only the TypeScript client's tests, against $(BUILD)/noormd-test.
test-ts: build
	cd adapter-ts && { [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ] || \
	  npm ci --no-audit --no-fund; } && npm run build && NOORMD_BIN=$(CURDIR)/$(BUILD)/noormd-test npm test

# libFuzzer adds new inputs to the first corpus directory: keep that one in
# the build tree and read the committed seeds from the second.
fuzz: build-asan
	mkdir -p $(ASAN)/tests/fuzz/corpus-scan
	./$(ASAN)/tests/fuzz/fuzz_scan -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
	  -timeout=10 $(ASAN)/tests/fuzz/corpus-scan tests/fuzz/corpus

bench: build
	./bench/run.sh $(BUILD)

format:
	clang-format -i protocol/*.[ch] server/*.[ch] server/*/*.[ch] tests/*/*.[ch] tests/support/methods/*.[ch] bench/*.[ch]

format-check:
	clang-format --dry-run -Werror protocol/*.[ch] server/*.[ch] server/*/*.[ch] tests/*/*.[ch] tests/support/methods/*.[ch] bench/*.[ch]

clean:
	rm -rf $(BUILD) $(ASAN) $(TSAN)
