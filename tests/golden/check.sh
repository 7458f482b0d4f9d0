#!/usr/bin/env bash
# Regenerates the gbstats golden expectations into a temporary file and checks that
# they match the committed tests/golden/gbstats_expected.json (numbers within 1e-9
# relative). gbstats lives in a venv outside the repository, created on first use and
# reused after: ${RECTUNE_PY_HOME:-$HOME/.cache/rectune/py}.
set -euo pipefail

if ! command -v python3 >/dev/null 2>&1; then
    echo "python3 not available: skipped"
    exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/requirements.txt"
committed="$here/gbstats_expected.json"

venv="${RECTUNE_PY_HOME:-$HOME/.cache/rectune/py}"
py="$venv/bin/python"
if [ ! -x "$py" ]; then
    mkdir -p "$(dirname "$venv")"
    python3 -m venv "$venv"
fi

# Exit status 0 when every pinned `name==version` is what the venv has: pip is skipped.
pins_installed() {
    "$py" - "$requirements" <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    name, _, pinned = line.partition("==")
    try:
        if version(name) != pinned:
            sys.exit(1)
    except PackageNotFoundError:
        sys.exit(1)
PY
}

if ! pins_installed; then
    "$py" -m pip install --quiet --disable-pip-version-check -r "$requirements"
fi

fresh="$(mktemp)"
trap 'rm -f "$fresh"' EXIT
"$py" "$here/gbstats_cases.py" "$fresh"

# Same structure, same strings, numbers within 1e-9 relative (1e-12 absolute for the
# far-tail p-values gbstats computes as 1 - cdf, which carry no relative accuracy).
"$py" - "$committed" "$fresh" <<'PY'
import json
import math
import sys

committed, fresh = (json.load(open(p)) for p in sys.argv[1:3])
diffs = []


def compare(a, b, path):
    if isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or a is None:
        if a != b:
            diffs.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            diffs.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            diffs.append(f"{path}: keys {sorted(a)} != {sorted(b)}")
        for k in a.keys() & b.keys():
            compare(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            diffs.append(f"{path}: {len(a)} items != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]")
    else:
        diffs.append(f"{path}: {type(a).__name__} != {type(b).__name__}")


compare(committed, fresh, "$")
if diffs:
    print(f"gbstats golden expectations differ from a fresh run ({len(diffs)}):", file=sys.stderr)
    print("\n".join(sorted(diffs)[:50]), file=sys.stderr)
    print("regenerate with: python tests/golden/gbstats_cases.py (in the venv)", file=sys.stderr)
    sys.exit(1)
print(f"gbstats golden expectations: {len(fresh['cases'])} cases match gbstats {fresh['gbstats_version']}")
PY
