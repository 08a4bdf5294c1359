# Starling. `make run` and `make test` install what they need from Debian first (fast when present).
SHELL := /bin/bash
SYSTEM_PACKAGES := libssl-dev libsrtp2-dev libopus-dev libvpx-dev libusrsctp-dev pkg-config curl
# What the interop tests add: Chromium and its driver from Debian, unshare/ip for the loopback-only namespace,
# nftables (the ICE-TCP and TURN tests drop UDP), coturn (turnserver) and openssl (its TLS certificate) for the TURN test,
# Firefox ESR, and GStreamer's webrtcbin with libnice and the Python bindings for /usr/bin/python3 (gstreamer_echo.py).
TEST_SYSTEM_PACKAGES := chromium chromium-driver iproute2 util-linux nftables coturn openssl firefox-esr \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-nice python3-gst-1.0 \
	gir1.2-gst-plugins-bad-1.0
SWIFT ?= swift
FUZZ_SECONDS ?= 20

.PHONY: all deps test-deps build build-release run test unit-tests smoke load-smoke interop fuzz bench bench-data bench-vs-janus soak tsan-data clean

all: build

deps:
	@scripts/install-deps.sh $(SYSTEM_PACKAGES)
	@scripts/install-libsrtp2-openssl.sh

test-deps: deps
	@scripts/install-deps.sh $(TEST_SYSTEM_PACKAGES)
	@scripts/install-python-deps.sh

build: deps
	$(SWIFT) build

build-release: deps
	$(SWIFT) build -c release --product starling

## Build in release mode and serve the web app, /rtc and the API on 127.0.0.1:8080 with config/starling.yaml.
## Development tokens are turned on for this local run only (the web app gets its tokens from /dev/token);
## the config file keeps them off.
run: build-release
	STARLING_AUTH_DEV_TOKENS=$${STARLING_AUTH_DEV_TOKENS:-true} .build/release/starling serve --config config/starling.yaml

## Everything CI runs: unit and property tests, the serve smoke test, interop with real peers, and a short
## run of every fuzzer.
test: deps unit-tests smoke load-smoke interop fuzz
	@echo "make test: all stages passed"

unit-tests: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

smoke: deps
	$(SWIFT) build --product starling
	scripts/smoke-serve.sh .build/debug/starling

## starling-load against Starling for a few seconds (2 publishers of VP8 simulcast + Opus, 2 subscribers decoding
## everything): fails unless frames are decoded with no loss after NACK recovery (docs/LOAD.md).
load-smoke: deps
	$(SWIFT) build --product starling
	$(SWIFT) build --product starling-load
	scripts/load-smoke.sh .build/debug/starling .build/debug/starling-load

## Real peers (Chromium, aiortc) in a network namespace holding only loopback: they accept our SDP answers,
## they connect to /v1/echo (ICE, DTLS, SRTP) in both UDP port modes and decode their media echoed back, and
## they hold conferences through the web app and /rtc; a relay-only Chromium reaches the room through coturn.
interop: test-deps unit-tests
	$(SWIFT) build --product starling
	python3 Tests/Interop/sdp_accept.py --no-build
	python3 Tests/Interop/echo_interop.py --binary .build/debug/starling
	python3 Tests/Interop/protocol_examples.py
	python3 Tests/Interop/control_api.py --binary .build/debug/starling
	python3 Tests/Interop/conference_aiortc.py --binary .build/debug/starling
	python3 Tests/Interop/conference_chromium.py --binary .build/debug/starling
	python3 Tests/Interop/conference_mixed.py --binary .build/debug/starling
	python3 Tests/Interop/data_aiortc.py --binary .build/debug/starling
	python3 Tests/Interop/data_chromium.py --binary .build/debug/starling
	python3 Tests/Interop/ice_tcp_chromium.py --binary .build/debug/starling
	python3 Tests/Interop/turn_chromium.py --binary .build/debug/starling
	python3 Tests/Interop/codecs_chromium.py --binary .build/debug/starling
	python3 Tests/Interop/firefox_chromium.py --binary .build/debug/starling
	python3 Tests/Interop/adversarial.py --binary .build/debug/starling
	python3 Tests/Interop/gstreamer_echo.py --binary .build/debug/starling

## libFuzzer targets (Fuzz/), each run for FUZZ_SECONDS (default 20); crashes fail the run.
fuzz: deps
	scripts/fuzz.sh $(FUZZ_SECONDS)

## Benchmarks (Benchmarks/, ordo-one/benchmark): time and allocations of the parsers.
bench: deps
	cd Benchmarks && $(SWIFT) package --allow-writing-to-package-directory benchmark --no-progress

## Data-channel relay beside media (issue 9): server CPU per message through one room, 1 sender to 10 and 100
## receivers, 100 B and 16 KiB messages, beside the same payload bytes as RTP through the Router, SRTP per receiver
## (Benchmarks/Sources/DataRelayBenchmark, a plain executable; about 30 s). Then a short pass counts the server's
## allocations with the malloc interposer preloaded. BENCH_DATA_BUILD is the build directory.
BENCH_DATA_BUILD ?= $(CURDIR)/Benchmarks/.build
bench-data: deps
	cd Benchmarks && $(SWIFT) build -c release --scratch-path $(BENCH_DATA_BUILD) --product DataRelayBenchmark
	cd Benchmarks && $(SWIFT) build -c release --scratch-path $(BENCH_DATA_BUILD) --product MallocInterposerSwift
	$(BENCH_DATA_BUILD)/release/DataRelayBenchmark
	LD_PRELOAD=$(BENCH_DATA_BUILD)/release/libMallocInterposerSwift.so $(BENCH_DATA_BUILD)/release/DataRelayBenchmark --allocations

## Starling against Janus (Debian) on the same workload, one after the other, in a network namespace of its own
## (needs root). Writes Benchmarks/results/vs-janus-<date>.md and .json. Not part of `make test`.
bench-vs-janus: deps
	scripts/janus/install.sh
	$(SWIFT) build -c release --product starling
	$(SWIFT) build -c release --product starling-load
	python3 Benchmarks/vs-janus/bench_vs_janus.py

## Soak: SOAK_MINUTES (default 30) of starling-load churn against the release build after a 2-minute warm-up, rooms
## and participants joining and leaving, in a network namespace of its own; fails unless the server's idle RSS, open
## descriptors, rooms, participants and transports come back to the baseline (docs/LOAD.md). Writes
## Benchmarks/results/soak-<date>.md and .csv. Not part of `make test`.
SOAK_MINUTES ?= 30
soak: deps
	$(SWIFT) build -c release --product starling
	$(SWIFT) build -c release --product starling-load
	python3 scripts/soak.py --binary .build/release/starling --load .build/release/starling-load --minutes $(SOAK_MINUTES)

## The data-channel suites (usrsctp, DCEP, the relay, the data-room simulation, associations on two threads) built with
## ThreadSanitizer in .build-tsan: fails on any TSan report. Not part of `make test` (a separate build of everything).
tsan-data: deps
	$(SWIFT) build --build-tests --sanitize=thread --scratch-path .build-tsan
	TSAN_OPTIONS="halt_on_error=1" $(SWIFT) test --skip-build --scratch-path .build-tsan \
		--filter "SCTPTests|DataChannelEndpointTests|DataChannelsOverDTLSTests|DataRelayTests|DataRoomSimulationTests"

clean:
	rm -rf .build Fuzz/.build Benchmarks/.build .build-tsan
