#!/usr/bin/env bash
# Creates the test virtualenv (default: .venv in the repository) if it is missing and
# installs the packages in tools/requirements-test.txt that it lacks. Idempotent:
# silent when everything is already there, otherwise says what it installs.
#   TAXON_VENV=/path  use another virtualenv    PYTHON=python3.x  interpreter to use
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${TAXON_VENV:-$root/.venv}
reqs=$root/tools/requirements-test.txt
py=${PYTHON:-python3}

# One run at a time (make -j may start several).
if command -v flock >/dev/null 2>&1; then
  exec 9>"${TMPDIR:-/tmp}/taxon-venv-$(id -u).lock"
  flock 9
fi

make_venv() { "$1" -m venv "$venv" >/tmp/taxon-venv.$$.log 2>&1; }

if ! "$venv/bin/python" -c '' >/dev/null 2>&1; then
  echo "taxon: creating virtualenv $venv"
  rm -rf "$venv"
  if ! make_venv "$py"; then
    # Debian's python3 ships venv/ensurepip separately.
    rm -rf "$venv"
    echo "taxon: '$py -m venv' failed; installing python3-venv"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    if ! make_venv "$py" && { rm -rf "$venv"; ! make_venv /usr/bin/python3; }; then
      cat /tmp/taxon-venv.$$.log >&2
      rm -f /tmp/taxon-venv.$$.log
      echo "taxon: cannot create $venv" >&2
      exit 1
    fi
  fi
  rm -f /tmp/taxon-venv.$$.log
fi

# Requirements not satisfied yet (name and version specifier checked with pip's
# own parser, so "numpy>=1.24" style lines work too).
missing=$("$venv/bin/python" - "$reqs" <<'PY'
import sys, re
from importlib import metadata
try:
    from pip._vendor.packaging.requirements import Requirement
except Exception:
    Requirement = None
for line in open(sys.argv[1]):
    line = line.split('#', 1)[0].strip()
    if not line:
        continue
    if Requirement:
        r = Requirement(line)
        name, spec = r.name, r.specifier
    else:
        name, spec = re.match(r'[A-Za-z0-9._-]+', line).group(0), None
    try:
        v = metadata.version(name)
    except metadata.PackageNotFoundError:
        print(line)
        continue
    if spec is not None and not spec.contains(v, prereleases=True):
        print(line)
PY
)
[ -z "$missing" ] && exit 0
mapfile -t pkgs <<<"$missing"
echo "taxon: installing into $venv: ${pkgs[*]}"
"$venv/bin/python" -m pip install -q --disable-pip-version-check "${pkgs[@]}"
