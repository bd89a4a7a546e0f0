#!/usr/bin/env bash
# Everything owed on a real GPU, in ONE call of the device tool, in well under 8 minutes:
#   1. the CUDA tests on the device (GDVIZ_REAL_CUDA=1 pytest ...);
#   2. every bundled scenario on --target cuda against cpu, the bandwidth of the full-batch
#      gradient at n = 50M and a 4,096-run sweep against the CPU (scripts/gpu_check.py);
#   3. `gdviz info`.
# Writes info.txt, pytest.txt, report.md and report.json under $OUT (the device tool sets it;
# default ./gpu-check-out). Installs nothing and downloads nothing: the device has numba,
# numba-cuda, numpy, rich and pytest but no Textual and no package index, so the package
# layout (kernels/ as gdviz.kernels, ...) is staged in a temporary folder on PYTHONPATH.
#   device tool:  run(command="bash scripts/gpu-check.sh", timeout_s=540)
#   here (plumbing only, under the simulator):  GDVIZ_GPU_CHECK_SMALL=1 bash scripts/gpu-check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu-check-out}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gdviz"
cp -r gdviz/. "$stage/gdviz/"
cp -r kernels "$stage/gdviz/kernels"
cp -r tui "$stage/gdviz/tui"
cp -r scenarios "$stage/gdviz/scenarios"
export PYTHONPATH="$stage${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
small=()
tests_env=(GDVIZ_REAL_CUDA=1)
if [ "${GDVIZ_GPU_CHECK_SMALL:-0}" = 1 ]; then
  small=(--small)
  tests_env=(NUMBA_ENABLE_CUDASIM=1)
fi

{ date -u +%FT%TZ; "$PY" -m gdviz info; nvidia-smi 2>/dev/null | head -15; } > "$OUT/info.txt" 2>&1

if [ "${GDVIZ_GPU_CHECK_SMALL:-0}" != 1 ]; then
  env "${tests_env[@]}" timeout 240 "$PY" -m pytest -q -p no:cacheprovider \
    tests/test_gpu_descent.py tests/test_gpu_accumulate.py tests/test_gpu_launches.py tests/test_stepmath.py \
    tests/test_target.py \
    > "$OUT/pytest.txt" 2>&1
  echo "pytest exit code: $?" >> "$OUT/pytest.txt"
fi

env ${small:+NUMBA_ENABLE_CUDASIM=1} timeout 300 "$PY" scripts/gpu_check.py --out "$OUT" "${small[@]}"
echo "gpu_check exit code: $?"
[ -f "$OUT/pytest.txt" ] && tail -3 "$OUT/pytest.txt"
exit 0
