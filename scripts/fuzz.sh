#!/usr/bin/env bash
# `make fuzz`: every cargo-fuzz target of fuzz/ for FUZZ_SECONDS (default 60) each, on the stable
# toolchain (RUSTC_BOOTSTRAP=1 lets cargo-fuzz use its -Z flags; the binaries are built with
# AddressSanitizer and libFuzzer's coverage instrumentation).
#
# Corpora: fuzz/corpus/<target>/ (in git) holds realistic seeds and every input that ever made a
# target fail; `make test` replays it (src/fuzz_targets.rs). The fuzzer adds what it finds to a
# working corpus fuzz/work/<target>/ (not in git, kept and minimized between runs, seeded from
# fuzz/corpus). A failing input is copied to fuzz/corpus/<target>/ so `make test` fails on it
# until it is fixed; the run goes on with the other targets and exits 1 at the end.
#   FUZZ_TARGETS="classify config"  only these targets     FUZZ_JOBS=2  parallel fuzzing jobs
set -uo pipefail
cd "$(dirname "$0")/../fuzz" || exit 1
export RUSTC_BOOTSTRAP=1
seconds=${FUZZ_SECONDS:-60}
targets=${FUZZ_TARGETS:-$(cargo fuzz list)}
jobs=${FUZZ_JOBS:-1}
cargo fuzz build -O || exit 1
failed=()
summary=()
for target in $targets; do
    mkdir -p "work/$target" "corpus/$target" "artifacts/$target"
    log="work/$target.log"
    echo "[fuzz] $target for ${seconds} s" >&2
    cargo fuzz run -O "$target" "work/$target" "corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=8192 -timeout=10 -print_final_stats=1 \
        $( ((jobs > 1)) && echo "-fork=$jobs" ) >"$log" 2>&1
    status=$?
    runs=$(awk '/^stat::number_of_executed_units:/ { n += $2 } END { if (n) print n }' "$log")
    if ((status != 0)); then
        tail -40 "$log" >&2
        for artifact in artifacts/"$target"/*; do
            [[ -f $artifact ]] || continue
            cp "$artifact" "corpus/$target/$(basename "$artifact")"
            echo "[fuzz] $target: failing input kept as fuzz/corpus/$target/$(basename "$artifact")" >&2
        done
        failed+=("$target")
    fi
    # Keep the working corpus small: only inputs that add coverage.
    cargo fuzz cmin -O "$target" "work/$target" >/dev/null 2>&1 || true
    summary+=("$(printf '%-12s %10s executions in %4s s, exit %s, working corpus %s inputs' \
        "$target" "${runs:-?}" "$seconds" "$status" "$(ls "work/$target" | wc -l)")")
done
printf '[fuzz] %s\n' "${summary[@]}" >&2
if ((${#failed[@]})); then
    echo "[fuzz] FAILED: ${failed[*]} (inputs in fuzz/artifacts/, copied to fuzz/corpus/; see fuzz/work/<target>.log)" >&2
    exit 1
fi
