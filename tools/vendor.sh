#!/usr/bin/env bash
# Copy pinned front-end packages from the npm registry into app/static/vendor/ and record what was
# copied (app/static/vendor/MANIFEST.json). The copies are committed: neither CI nor `make run`
# needs npm. Re-run only to upgrade:  tools/vendor.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BOOTSTRAP=5.3.9
BPMN_JS=18.31.1
ECHARTS=5.6.0
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund \
  "bootstrap@$BOOTSTRAP" "bpmn-js@$BPMN_JS" "echarts@$ECHARTS" >/dev/null)
DEST=app/static/vendor
rm -rf "$DEST"; mkdir -p "$DEST/bootstrap" "$DEST/bpmn-js/assets" "$DEST/echarts"
cp "$WORK/node_modules/bootstrap/dist/css/bootstrap.min.css" "$DEST/bootstrap/"
cp "$WORK/node_modules/bootstrap/dist/js/bootstrap.bundle.min.js" "$DEST/bootstrap/"
cp "$WORK/node_modules/bootstrap/LICENSE" "$DEST/bootstrap/LICENSE"
cp "$WORK/node_modules/bpmn-js/dist/bpmn-navigated-viewer.production.min.js" "$DEST/bpmn-js/"
cp "$WORK/node_modules/bpmn-js/dist/assets/diagram-js.css" "$WORK/node_modules/bpmn-js/dist/assets/bpmn-js.css" "$DEST/bpmn-js/assets/"
cp -r "$WORK/node_modules/bpmn-js/dist/assets/bpmn-font" "$DEST/bpmn-js/assets/"
cp "$WORK/node_modules/bpmn-js/LICENSE" "$DEST/bpmn-js/LICENSE"
cp "$WORK/node_modules/echarts/dist/echarts.min.js" "$WORK/node_modules/echarts/LICENSE" \
  "$WORK/node_modules/echarts/NOTICE" "$DEST/echarts/"   # Apache-2.0: the NOTICE travels with the copy
python3 - "$DEST" "$WORK" <<'PY'
import hashlib, json, pathlib, sys
dest, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
versions = {p: json.loads((work / "node_modules" / p / "package.json").read_text())["version"] for p in ("bootstrap", "bpmn-js", "echarts")}
files = {str(f.relative_to(dest)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(dest.rglob("*")) if f.is_file() and f.name != "MANIFEST.json"}
(dest / "MANIFEST.json").write_text(json.dumps({"packages": versions, "files": files}, indent=1) + "\n")
PY
echo "vendored into $DEST:"; cat "$DEST/MANIFEST.json" | head -5
