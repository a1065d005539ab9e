"""The vendored front-end files are exactly the ones tools/vendor.sh recorded (no CDN, no drift)."""
from __future__ import annotations

import hashlib
import json

from tests.conftest import PROJECT

VENDOR = PROJECT / "app/static/vendor"


def test_every_vendored_file_matches_the_manifest():
    manifest = json.loads((VENDOR / "MANIFEST.json").read_text(encoding="utf-8"))
    on_disk = {str(f.relative_to(VENDOR)): hashlib.sha256(f.read_bytes()).hexdigest()
               for f in sorted(VENDOR.rglob("*")) if f.is_file() and f.name != "MANIFEST.json"}
    assert on_disk == manifest["files"]
    assert manifest["packages"]["echarts"].startswith("5.")
    for package in manifest["packages"]:
        assert f"{package}/LICENSE" in on_disk, package
