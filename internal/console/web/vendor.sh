#!/usr/bin/env bash
# Copies the console's pinned front-end libraries from npm into
# ../assets/vendor, where go:embed takes them. Run it after changing
# package.json (then commit package-lock.json and assets/vendor):
#
#   go generate ./internal/console   (or: internal/console/web/vendor.sh)
#
# It needs Node.js and npm; building or running Sluice does not.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --ignore-scripts
out=../assets/vendor
rm -rf "$out"
mkdir -p "$out"
cp node_modules/uplot/dist/uPlot.iife.min.js "$out/uplot.min.js"
cp node_modules/uplot/dist/uPlot.min.css "$out/uplot.min.css"
cp node_modules/uplot/LICENSE "$out/uplot.LICENSE"
cp node_modules/@dagrejs/dagre/dist/dagre.min.js "$out/dagre.min.js"
cp node_modules/@dagrejs/dagre/LICENSE "$out/dagre.LICENSE"
cp node_modules/@dagrejs/graphlib/LICENSE "$out/graphlib.LICENSE"
{
	echo "Copied by web/vendor.sh from npm (versions pinned in web/package-lock.json):"
	for p in uplot @dagrejs/dagre @dagrejs/graphlib; do
		node -e "const p=require('./node_modules/$p/package.json'); console.log('  ' + p.name + '@' + p.version + ' (' + p.license + ')')"
	done
} >"$out/VERSIONS.txt"
