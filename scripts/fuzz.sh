#!/usr/bin/env bash
# Fuzzes every reader of untrusted bytes: builds the libFuzzer harnesses of fuzz/ with clang
# (ASan + UBSan, in build-fuzz; only the libraries they need) and runs each for SECONDS.
#
#   scripts/fuzz.sh [SECONDS] [HARNESS[:SECONDS]...]     default: 20 s each, all harnesses
#
# Harnesses: dsm image gzip idx cifar checkpoint; HARNESS:SECONDS gives one its own duration.
# FUZZ_JOBS (default: the number of cores) harnesses run at a time. Each starts from the
# committed seeds (fuzz/corpus/<harness>) plus what earlier runs found (build-fuzz/corpus/
# <harness>). A crash, an ASan/UBSan report, a leak, a timeout or more than 2 GiB of memory is a
# finding: its input is saved under build-fuzz/findings/<harness>/ and the script exits 1.
# docs/reliability.md says what to do with it (fix, then commit it to
# fuzz/regressions/<harness>/, which test_fuzz_replay replays).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=20
if [[ $# -gt 0 && $1 =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then args=(dsm image gzip idx cifar checkpoint); fi
harnesses=()
declare -A duration
for a in "${args[@]}"; do
  h=${a%%:*}
  harnesses+=("$h")
  duration[$h]=$seconds
  if [[ $a == *:* ]]; then duration[$h]=${a#*:}; fi
  if ! [[ ${duration[$h]} =~ ^[0-9]+$ && ${duration[$h]} -gt 0 ]]; then
    echo "fuzz.sh: '$a': the duration must be a positive number of seconds" >&2
    exit 2
  fi
done
jobs=${FUZZ_JOBS:-$(nproc)}

# Largest input per harness: a few times the largest seed (CIFAR records are 3073 bytes).
declare -A max_len=([dsm]=4096 [image]=4096 [gzip]=2048 [idx]=2048 [cifar]=8192 [checkpoint]=4096)
for h in "${harnesses[@]}"; do
  if [[ -z ${max_len[$h]:-} ]]; then
    echo "fuzz.sh: unknown harness '$h' (known: ${!max_len[*]})" >&2
    exit 2
  fi
done

mkdir -p build-fuzz
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined,fuzzer-no-link -fno-sanitize-recover=all -fno-omit-frame-pointer" \
  -DDENSESHIFT_FUZZERS=ON -DDENSESHIFT_BUILD_BENCH=OFF > build-fuzz/configure.log 2>&1 ||
  { cat build-fuzz/configure.log >&2; exit 2; }
targets=()
for h in "${harnesses[@]}"; do targets+=("fuzz_$h"); done
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"

# The harnesses that take paths write a file per execution: into a scratch folder removed at
# the end, since a crashing process cannot clean up after itself.
scratch=$(mktemp -d -p "$( [[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")" denseshift_fuzz.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

run_one() {
  local h=$1 dir=build-fuzz/runs/$h rc=0
  rm -rf "$dir" && mkdir -p "$dir" "build-fuzz/corpus/$h" "build-fuzz/findings/$h"
  local dict=()
  if [[ -f fuzz/$h.dict ]]; then dict=(-dict="fuzz/$h.dict"); fi
  # rss/malloc limits: a reader that allocates what a header claims is a finding.
  TMPDIR=$scratch OMP_NUM_THREADS=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    LSAN_OPTIONS=suppressions=$PWD/fuzz/lsan.supp:print_suppressions=0 \
    "build-fuzz/fuzz/fuzz_$h" -max_total_time="${duration[$h]}" -max_len="${max_len[$h]}" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
    -artifact_prefix="build-fuzz/findings/$h/" "build-fuzz/corpus/$h" "fuzz/corpus/$h" > "$dir/log" 2>&1 || rc=$?
  echo $rc > "$dir/rc"
}

active=0
for h in "${harnesses[@]}"; do
  run_one "$h" &
  active=$((active + 1))
  if ((active >= jobs)); then
    wait -n || true
    active=$((active - 1))
  fi
done
wait

status=0
total=0
for h in "${harnesses[@]}"; do
  dir=build-fuzz/runs/$h
  rc=$(cat "$dir/rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  execs=${execs:-0}
  total=$((total + execs))
  if [[ $rc == 0 ]]; then
    printf 'fuzz %-10s %10d executions in %ss (%d/s), no findings\n' "$h" "$execs" "${duration[$h]}" \
      $((execs / duration[$h]))
  else
    status=1
    finding=$(grep -o "Test unit written to [^ ]*" "$dir/log" | tail -1 | sed 's/Test unit written to //')
    what=$(grep -m1 -E "^(==[0-9]+==ERROR|SUMMARY|.*runtime error:|==[0-9]+== ERROR: libFuzzer)" "$dir/log" || echo "exit status $rc")
    printf 'fuzz %-10s FINDING after %d executions: %s\n' "$h" "$execs" "$what"
    printf '     input: %s   log: %s\n' "${finding:-none saved}" "$dir/log"
  fi
done
echo "fuzz: $total executions in all"
exit $status
