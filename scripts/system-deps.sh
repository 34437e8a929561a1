#!/usr/bin/env bash
# Installs what the project needs from Debian's packages when it is missing:
# a C compiler, the PostgreSQL 15 server binaries for the embedded database and the test run, Chromium for the
# browser tests (driven by Playwright through executable_path; no browser is downloaded), and
# Node.js with npm for building the browser SDK (sdk/js).
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql-15)
command -v cargo >/dev/null 2>&1 || { echo "cargo (Rust) is required: install it with rustup" >&2; exit 1; }
# A C compiler: the Rust core builds zstd's C sources (the segments' compressed cold columns).
command -v cc >/dev/null 2>&1 || need+=(build-essential)
command -v python3.11 >/dev/null 2>&1 || need+=(python3.11 python3.11-venv)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v npm >/dev/null 2>&1 || need+=(nodejs npm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "missing packages: ${need[*]} (run as root to install)" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
