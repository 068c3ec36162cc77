#!/usr/bin/env bash
# Broadcast fan-out of modeldeck next to Node's socket.io and bare python-socketio,
# same client load, one run, ratios side by side (../shared/fanout-bench harness).
#
#   bench/fanout.sh                      # node, py-fast-nc and modeldeck at 100/500/1000
#   bench/fanout.sh --sizes "1000" --quick
#   MODELDECK_SERVE_ARGS="--workers 2" bench/fanout.sh --sizes 1000   # two processes
#
# The harness is copied to a scratch folder (the shared copy is read-only); each
# modeldeck event is triggered by one REST write (PATCH of a model), and the load
# clients listen to the models topic only, as a models dashboard would.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
harness=${FANOUT_BENCH:-$here/../shared/fanout-bench}
scratch=${FANOUT_SCRATCH:-/tmp/modeldeck-fanout-bench}
mkdir -p "$scratch"
cp -r "$harness"/. "$scratch"/
chmod -R u+w "$scratch"
cd "$scratch"
./setup.sh >/dev/null
exec ./run_bench.sh --servers "node py-fast-nc" "$@" --target modeldeck \
  --target-cmd "exec $here/.venv/bin/modeldeck serve --port {port} --db {dir}/bench.db --log-level WARNING ${MODELDECK_SERVE_ARGS:-}" \
  --target-ready-path /health -- \
  --trigger-url '{base}/api/models/gemini-1.5-flash' --trigger-method PATCH \
  --trigger-body '{"description": "bench {run} {i}"}' \
  --subscribe-event unsubscribe \
  --subscribe-payload '{"topics": ["providers", "credentials", "proxy", "ollama"]}'
