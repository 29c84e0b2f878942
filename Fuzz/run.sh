#!/usr/bin/env bash
# libFuzzer over the SIPCore parser. Usage: Fuzz/run.sh [SECONDS] [extra libFuzzer flags]
# Builds .build-fuzz/sipfuzz (swiftc -sanitize=fuzzer,address), seeds the corpus with the
# conformance fixtures, and fuzzes for SECONDS (default 600). Crashes land in .build-fuzz/.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-600}"; shift || true
out=.build-fuzz
mkdir -p "$out/corpus"
swiftc -sanitize=fuzzer,address -parse-as-library -O -g -swift-version 6 -module-name SIPFuzz \
  Sources/SIPCore/*.swift Fuzz/FuzzEntry.swift -o "$out/sipfuzz"
cp -n Tests/SIPCoreTests/Fixtures/rfc4475/*.dat Tests/SIPCoreTests/Fixtures/rfc5118/*.dat "$out/corpus/" 2>/dev/null || true
exec "$out/sipfuzz" "$out/corpus" -dict=Fuzz/sip.dict -max_len=8192 -max_total_time="$secs" \
  -artifact_prefix="$out/" -print_final_stats=1 "$@"
