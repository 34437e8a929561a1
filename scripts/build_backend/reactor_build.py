"""The package's PEP 517 build backend: maturin's, after building the browser SDK.

`pip install .` and `pip wheel .` build the browser SDK (sdk/js: `npm ci`, then esbuild) into
python/reactor_analytics/static/ when its files are missing, so that a wheel built from a fresh
checkout serves /tracker.js and /analytics/v1/sdk.js too. Without npm the wheel is built all the
same and the service answers 503 for those files until they are built (`make sdk-js`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from maturin import (  # noqa: F401 - the hooks maturin answers unchanged
    build_sdist,
    get_requires_for_build_sdist,
    get_requires_for_build_wheel,
    prepare_metadata_for_build_wheel,
)
import maturin

ROOT = Path(__file__).resolve().parents[2]
FILES = ("tracker.js", "sdk.js", "sdk.d.ts")


def build_browser_sdk() -> None:
    static = ROOT / "python" / "reactor_analytics" / "static"
    _build_js(ROOT / "sdk" / "js", all((static / name).is_file() for name in FILES))
    # The dashboard (dashboard/ into static/dashboard/) the same way.
    _build_js(ROOT / "dashboard", (static / "dashboard" / "index.html").is_file())


def _build_js(sources: Path, built: bool) -> None:
    if built or not (sources / "build.mjs").is_file():
        return
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        print("warning: npm not found: the wheel carries no browser SDK (build it with `make sdk-js`)",
              file=sys.stderr)
        return
    if not (sources / "node_modules" / ".installed").is_file():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=sources, check=True)
        (sources / "node_modules" / ".installed").touch()
    subprocess.run([node, "build.mjs"], cwd=sources, check=True)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    build_browser_sdk()
    return maturin.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    build_browser_sdk()
    return maturin.build_editable(wheel_directory, config_settings, metadata_directory)
