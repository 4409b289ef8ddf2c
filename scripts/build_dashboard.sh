#!/usr/bin/env bash
# Bundle the dashboard's browser dependencies into the package: install the versions pinned in
# serving/dashboard/package-lock.json from the npm registry and copy Chart.js's browser build
# (and its licence) into serving/dashboard/static/vendor/, which the package data includes.
# The page then loads nothing from another site at run time.
set -euo pipefail
cd "$(dirname "$0")/../serving/dashboard"

command -v npm >/dev/null || { echo "build_dashboard: npm is needed to bundle Chart.js (install Node.js)" >&2; exit 1; }
# --ignore-scripts: nothing from the registry runs here; only files are copied.
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
rm -rf static/vendor
mkdir -p static/vendor
cp node_modules/chart.js/dist/chart.umd*.js static/vendor/
cp node_modules/chart.js/LICENSE.md static/vendor/chart.js.LICENSE.md
echo "bundled Chart.js $(node -p "require(\"./node_modules/chart.js/package.json\").version") into serving/dashboard/static/vendor/"
