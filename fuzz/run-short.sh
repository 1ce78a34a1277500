#!/usr/bin/env bash
# Runs every fuzz target for a short while: `fuzz/run-short.sh [SECONDS]`
# (default 10 per target). Needs cargo-fuzz (`cargo install cargo-fuzz`);
# on a stable toolchain it sets RUSTC_BOOTSTRAP=1 for the sanitizer flags.
# A crash leaves its input in fuzz/artifacts/<target>/ and fails the script;
# replay it with `cargo fuzz run <target> fuzz/artifacts/<target>/<file>`.
#
# Each run starts from the committed seeds in fuzz/seeds/<target>/ (read
# only) and from what earlier runs found in fuzz/corpus/<target>/, where new
# finds go; fuzz/corpus and fuzz/artifacts are git-ignored, so runs keep
# their corpus without dirtying the tree. Add an input worth keeping (a
# fixed crash, say) to fuzz/seeds/<target>/ and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-10}"
export RUSTC_BOOTSTRAP=1

targets=$(cargo fuzz list)
cargo fuzz build
for target in $targets; do
  echo "== fuzz target ${target}: ${seconds} s"
  corpus="fuzz/corpus/${target}"
  seeds="fuzz/seeds/${target}"
  mkdir -p "${corpus}" "${seeds}"
  log="fuzz/artifacts/${target}.log"
  mkdir -p fuzz/artifacts
  if ! cargo fuzz run "${target}" "${corpus}" "${seeds}" -- -max_total_time="${seconds}" -print_final_stats=1 >"${log}" 2>&1; then
    grep -E -A8 'panicked|ERROR|SUMMARY|Test unit written' "${log}" >&2 || tail -40 "${log}" >&2
    echo "fuzz target ${target} failed; the input is in fuzz/artifacts/${target}/" >&2
    exit 1
  fi
  grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "${log}" || true
done
