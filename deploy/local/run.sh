#!/usr/bin/env bash
# A local multi-process pausewatch: one verifier and one attestor per node and meter of a
# scenario, as real processes talking gRPC on localhost, on one accelerated clock.
#
#   deploy/local/run.sh [SCENARIO.toml] [DIR]
#
# Defaults: scenarios/demo-hidden-training.toml, demo-out/local-run (make demo replaces demo-out/). Everything the processes ran with
# stays in DIR (see deploy/local/README.md). Ctrl-C stops every process it started.
set -euo pipefail
cd "$(dirname "$0")/../.."
scenario="${1:-scenarios/demo-hidden-training.toml}"
dir="${2:-demo-out/local-run}"
if [ -e "$dir" ]; then
  echo "$dir exists; give another directory or remove it" >&2
  exit 2
fi
exec .venv/bin/pausewatch-sim run --processes --state-dir "$dir" "$scenario"
