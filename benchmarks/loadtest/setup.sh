#!/usr/bin/env bash
# Install the load test's hub (docs/deploy.md): everything under build/hub (git-ignored).
#   build/hub/venv          jupyterhub + jupyterhub-idle-culler (deploy/hub-requirements.txt)
#   build/hub/user-venv     the students' environment: the project's .venv (a .pth file) + jupyterhub
#   build/hub/node_modules  configurable-http-proxy (npm)
set -euo pipefail
cd "$(dirname "$0")/../.."
PROJECT_VENV="${PROJECT_VENV:-$PWD/.venv}"
BUILD=build/hub
mkdir -p "$BUILD"
SITE=$("$PROJECT_VENV/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
PY=$("$PROJECT_VENV/bin/python" -c "import sys; print(sys.executable)")
test -x "$BUILD/venv/bin/jupyterhub" || {
  "$PY" -m venv "$BUILD/venv"
  "$BUILD/venv/bin/pip" install -q -r deploy/hub-requirements.txt
}
test -x "$BUILD/user-venv/bin/jupyterhub-singleuser" || {
  "$PY" -m venv "$BUILD/user-venv"
  USER_SITE=$("$BUILD/user-venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  # a .pth "import" line: addsitedir also reads the project's own .pth files (its editable install)
  echo "import site; site.addsitedir('$SITE')" > "$USER_SITE/crystal_lab_project.pth"
  "$BUILD/user-venv/bin/pip" install -q "$(grep -E '^jupyterhub==' deploy/hub-requirements.txt | cut -d' ' -f1)"
}
test -x "$BUILD/node_modules/.bin/configurable-http-proxy" || \
  (cd "$BUILD" && npm install --no-audit --no-fund --loglevel=error configurable-http-proxy@5)
echo "load test hub ready in $BUILD"
