#!/bin/bash
# The engine benchmark of this checkout and of another, built checkout (its own .venv) at the same
# time, one per core: both see the same machine minutes. On this shared machine the speed moves
# 15-20 % from hour to hour (even within a minute), so runs one after the other compare the hours,
# not the code; two engine processes at once did not slow each other down measurably.
#   bench/engine_side_by_side.sh OTHER_CHECKOUT [ROUNDS] [RUNS]
set -euo pipefail
other=$(cd "${1:?usage: $0 OTHER_CHECKOUT [ROUNDS] [RUNS]}" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
for _ in $(seq 1 "${2:-1}"); do
  (cd "$here" && taskset -c 0 .venv/bin/python bench/engine_throughput.py --runs "${3:-3}" | tail -1 | sed "s|^|$here |") &
  first=$!
  (cd "$other" && taskset -c 1 .venv/bin/python bench/engine_throughput.py --runs "${3:-3}" | tail -1 | sed "s|^|$other |") &
  failed=0  # both waited for; a failed benchmark fails the script (a bare wait would not)
  wait "$first" || failed=$?
  wait $! || failed=$?
  [ "$failed" = 0 ] || exit "$failed"
done
