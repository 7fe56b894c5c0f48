#!/usr/bin/env bash
# Runs the evidence path end to end on this machine: a collector (embedded
# NATS, a local ClickHouse it manages), the agent's real checks delivered
# once, the fleet's posture, and a signed auditor extract verified
# offline. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO_DIR=${DEMO_DIR:-$(mktemp -d -t fleetproof-demo.XXXXXX)}
SECRET=demo-$RANDOM$RANDOM
mkdir -p "$DEMO_DIR"
echo "demo: working in $DEMO_DIR"

bin/fleetproof-collector serve -data-dir "$DEMO_DIR/collector" \
	-http-listen 127.0.0.1:0 -nats-listen 127.0.0.1:0 -enroll-secrets "$SECRET" \
	>"$DEMO_DIR/collector.log" 2>&1 &
COLLECTOR=$!
cleanup() {
	kill "$COLLECTOR" 2>/dev/null || true
	wait "$COLLECTOR" 2>/dev/null || true
}
trap cleanup EXIT

# The collector records its endpoints once everything accepts traffic.
STATE="$DEMO_DIR/collector/collector.json"
for _ in $(seq 1 600); do
	[ -s "$STATE" ] && break
	if ! kill -0 "$COLLECTOR" 2>/dev/null; then
		echo "demo: the collector exited; its log:" >&2
		cat "$DEMO_DIR/collector.log" >&2
		exit 1
	fi
	sleep 0.1
done
[ -s "$STATE" ] || { echo "demo: collector not ready after 60 s; see $DEMO_DIR/collector.log" >&2; exit 1; }
HTTP_URL=$(sed -n 's/.*"http_url": "\(.*\)".*/\1/p' "$STATE")
echo "demo: collector ready at $HTTP_URL"

echo "demo: running every check once and delivering the results"
bin/fleetproof-agent run --once -server-url "$HTTP_URL" -enroll-secret "$SECRET" \
	-state-dir "$DEMO_DIR/agent" -config /dev/null

# Delivery is acknowledged when JetStream has the envelope; wait until
# ingest has stored it before reading posture.
for _ in $(seq 1 100); do
	if bin/fleetproof-collector posture -data-dir "$DEMO_DIR/collector" -format csv 2>/dev/null | grep -q ',pass,\|,fail,\|,error,\|,not_applicable,'; then
		break
	fi
	sleep 0.1
done
echo
bin/fleetproof-collector posture -data-dir "$DEMO_DIR/collector"

# The auditor's side: today's evidence for the controls the Linux checks
# cover, as a signed bundle, then checked offline against the key's
# fingerprint as an auditor would.
TODAY=$(date -u +%Y-%m-%d)
echo
bin/fleetproof-collector extract -data-dir "$DEMO_DIR/collector" -controls CC6.1,CC6.6,CC6.8,CC7.1 \
	-from "$TODAY" -to "$TODAY" -out "$DEMO_DIR/extract"
FINGERPRINT=$(bin/fleetproof-collector extract-key -data-dir "$DEMO_DIR/collector" | head -n 1)
bin/fleetproof-collector verify -key "$FINGERPRINT" "$DEMO_DIR/extract"
