#!/usr/bin/env bash
# On a machine with the internet: download every wheel the worker image needs besides the base
# image's torch, for the image's Python, so that `docker build --build-arg WHEELS=...` needs no
# network. From the repository root:
#
#   workers/download-wheels.sh [FOLDER]      # default workers/wheels (inside the build context)
#
# Then carry the repository with that folder to the offline host and build there (workers/README.md).
# PYTHON_VERSION (default 3.11, the PyTorch image's) and PLATFORMS (default manylinux x86_64)
# pick the wheels; pip's own settings (PIP_INDEX_URL, a proxy) apply as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

dest="${1:-workers/wheels}"
python="${PYTHON:-python3}"
version="${PYTHON_VERSION:-3.11}"
platforms="${PLATFORMS:-manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64}"

command -v "$python" >/dev/null || { echo "download-wheels: $python not found (set PYTHON)" >&2; exit 2; }
mkdir -p "$dest"
requirements="$(mktemp)"
trap 'rm -f "$requirements"' EXIT
# The project's dependencies and build requirements, as workers/Dockerfile reads them; torch
# comes with the base image (a CUDA build there, which these wheels must not replace).
"$python" - "$requirements" <<'PY'
import re
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

with open("pyproject.toml", "rb") as f:
    project = tomllib.load(f)
names = project["project"]["dependencies"] + project["build-system"]["requires"]
keep = [r for r in names if re.split(r"[\s<>=!~;\[]", r, maxsplit=1)[0].lower() != "torch"]
with open(sys.argv[1], "w") as out:
    out.write("\n".join(keep) + "\n")
PY
platform_flags=()
for p in $platforms; do platform_flags+=(--platform "$p"); done
abi="cp${version/./}"
"$python" -m pip download --quiet --dest "$dest" --only-binary=:all: \
  --python-version "$version" --implementation cp --abi "$abi" "${platform_flags[@]}" \
  -r "$requirements"
echo "download-wheels: $(ls "$dest"/*.whl | wc -l) wheels in $dest for Python $version" >&2
