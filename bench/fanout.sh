#!/usr/bin/env bash
# Broadcast fan-out of modeldeck next to Node's socket.io and bare python-socketio,
# same client load, one run, ratios side by side (../shared/fanout-bench harness).
#
#   bench/fanout.sh                      # node, py-fast-nc and modeldeck at 100/500/1000
#   bench/fanout.sh --sizes "1000" --quick
#   MODELDECK_SERVE_ARGS="--workers 2" bench/fanout.sh --sizes 1000   # two processes
#   EVENT_FORMAT=full bench/fanout.sh --burst-trigger batch             # earlier figures
#
# The harness is copied to a scratch folder (the shared copy is read-only); each
# modeldeck event is triggered by one REST write (PATCH of a model), and the load
# clients listen to the models topic only, as a models dashboard would.
#
# Like for like, by default: the references are also triggered one request per event
# (--burst-trigger each; with "batch" Node emits 200 events in one tick and each client
# reads them in a few wake-ups, which no write-per-event server can do), and the load
# clients get the delta format (--event-format delta: ~0.6 KB per event, as the
# dashboard, the CLI and the test clients use; the full format repeats every model,
# ~2.9 KB here, against the references' ~0.3 KB).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
harness=${FANOUT_BENCH:-$here/../shared/fanout-bench}
scratch=${FANOUT_SCRATCH:-/tmp/modeldeck-fanout-bench}
mkdir -p "$scratch"
cp -r "$harness"/. "$scratch"/
chmod -R u+w "$scratch"
cd "$scratch"
./setup.sh >/dev/null
exec ./run_bench.sh --servers "node py-fast-nc" --burst-trigger each "$@" --target modeldeck \
  --target-cmd "exec $here/.venv/bin/modeldeck serve --port {port} --db {dir}/bench.db --log-level WARNING --event-format ${EVENT_FORMAT:-delta} ${MODELDECK_SERVE_ARGS:-}" \
  --target-ready-path /health -- \
  --trigger-url '{base}/api/models/gemini-1.5-flash' --trigger-method PATCH \
  --trigger-body '{"description": "bench {run} {i}"}' \
  --subscribe-event unsubscribe \
  --subscribe-payload '{"topics": ["providers", "credentials", "proxy", "ollama"]}'
