#!/usr/bin/env bash
# Create bench/.venv-pipecat: Pipecat at the pinned version, in its own virtualenv, from PyPI.
#
#   bash bench/pipecat/setup.sh          # idempotent: skips when already installed
#   PYTHON=python3.12 bash bench/pipecat/setup.sh
#
# The venv records the SHA-256 of requirements.txt (and the Python it was built with) once the
# install succeeded; a later run with the same requirements and Python does nothing, a changed
# one rebuilds the venv from scratch. Nothing here touches AYBIZA's own .venv.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$(cd "$here/.." && pwd)/.venv-pipecat"
requirements="$here/requirements.txt"
python="${PYTHON:-python3}"
stamp="$venv/.requirements.sha256"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup.sh: Pipecat 1.14 needs Python 3.11 or newer; $python is older" >&2
    exit 1
fi

want="$(
    {
        sha256sum "$requirements" | cut -d' ' -f1
        "$python" -c 'import sys; print(sys.version.split()[0])'
    } | sha256sum | cut -d' ' -f1
)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
    echo "Pipecat venv up to date: $venv"
    exit 0
fi

echo "Creating the Pipecat venv in $venv"
started=$SECONDS
"$python" -m venv --clear "$venv"
# Keep the venv out of git status (Python 3.13's venv writes this file itself).
echo '*' >"$venv/.gitignore"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
"$venv/bin/python" -m pip check
"$venv/bin/python" -c 'import pipecat, sys; print("pipecat-ai", pipecat.__version__, "on Python", sys.version.split()[0])'
echo "$want" >"$stamp"
echo "Installed in $((SECONDS - started)) s; size $(du -sh "$venv" | cut -f1)"
