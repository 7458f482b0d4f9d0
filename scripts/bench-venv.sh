#!/usr/bin/env bash
# Installs the Python baselines of `make bench` (Optuna, nevergrad, PyTorch for Optuna's
# GPSampler; pinned in benches/baselines/requirements.txt) into a project-local virtual
# environment, .venv-bench/ (ignored by git; about 6 GB, most of it PyTorch's CUDA
# runtime). Idempotent: a no-op once the environment matches the requirements file.
# `make test` does not need it.
#
#   scripts/bench-venv.sh            # install or check; prints the interpreter's path last
#   BENCH_VENV=/elsewhere scripts/bench-venv.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BENCH_VENV:-$root/.venv-bench}"
req="$root/benches/baselines/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "bench-venv: needs Python >= 3.11 (tomllib); set PYTHON=/path/to/python3.11+" >&2
    exit 1
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "bench-venv: creating $venv" >&2
    "$python" -m venv "$venv"
fi
# PyTorch from PyPI brings the CUDA runtime along (it will not import without it), so the
# environment takes about 6 GB; the GP sampler itself runs on the CPU.
echo "bench-venv: installing benches/baselines/requirements.txt (about 6 GB with PyTorch, once)" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req"
"$venv/bin/python" -c 'import optuna, nevergrad, torch; torch.ones(1)' >&2
echo "$want" > "$stamp"
echo "$venv/bin/python"
