#!/usr/bin/env bash
# pausewatch for real, on one machine: a verifier, one node's attestor on the system clock,
# a lab-signed inventory, and an offline audit of the exported log. Every step is a command an
# operator, a lab or an auditor runs; README.md ("Running it for real") walks through them.
# Usage, from the repository root after `make test` or `make demo` made .venv:
#   bash deploy/local/quickstart.sh [WORKDIR]      (default: real/, replaced)
set -euo pipefail
PW="$PWD/.venv/bin"
WORK="${1:-real}"
rm -rf "$WORK"; mkdir -p "$WORK" && cd "$WORK"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true' EXIT
field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
# wait_until SECONDS PID LOG CMD...: until CMD succeeds; gives up (exit 1, LOG's tail) when the
# background process PID has exited or after SECONDS.
wait_until() {
  local limit=$1 pid=$2 log=$3 deadline=$((SECONDS + $1)); shift 3
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then echo "exited before: $*" >&2; tail -n 20 "$log" >&2; exit 1; fi
    if [ "$SECONDS" -ge "$deadline" ]; then echo "not after ${limit} s: $*" >&2; tail -n 20 "$log" >&2; exit 1; fi
    sleep 0.2
  done
}

# 1. The verifier operator makes the log, challenge and verdict keys; the lab makes its key.
$PW/pausewatch-verifier --json keygen --out log.key --name verifier.example/pausewatch > log.json
$PW/pausewatch-verifier --json keygen --out challenge.key > challenge.json
$PW/pausewatch-verifier --json keygen --out verdict.key > verdict.json
$PW/pausewatch-verifier --json keygen --out lab.key > lab.json

# 2. The verifier: plaintext on localhost here; deploy/verifier.example.toml shows TLS and mTLS.
#    Port 0: any free port (several of these can run on one machine); the ready file says which.
cat > verifier.toml <<EOF
listen = "127.0.0.1:0"
state_dir = "state"
metrics_listen = "127.0.0.1:0"
[log]
origin = "verifier.example/pausewatch"
key_file = "log.key"
[challenge]
key_file = "challenge.key"
[verdict]
key_file = "verdict.key"
[[labs]]
lab_id = "lab-1"
public_keys = ["$(field lab.json public_key)"]
facilities = ["fac-a"]
EOF
$PW/pausewatch-verifier serve --config verifier.toml --ready-file ready 2> verifier.log &
wait_until 60 $! verifier.log test -e ready
VERIFIER="127.0.0.1:$(cat ready)"

# 3. On each node: a key, and the inventory entry the lab signs (on a GPU node `init` lists
#    its GPUs through NVML; here the entry has none).
$PW/pausewatch-attestor init --state-dir node-01 --node-id node-01 --facility-id fac-a > node-01.entry
cat > inventory.toml <<EOF
facility_id = "fac-a"
lab_id = "lab-1"
version = 1
[overhead]
min_ratio = 1.05
max_ratio = 1.6
EOF
grep -v '^#' node-01.entry >> inventory.toml
$PW/pausewatch-verifier inventory sign --key lab.key --in inventory.toml --out inventory.env
$PW/pausewatch-verifier inventory submit --address "$VERIFIER" --in inventory.env

# 4. The node runs its attestor: `auto` reads NVML on a GPU node, Linux host counters anywhere.
cat > node-01.toml <<EOF
facility_id = "fac-a"
node_id = "node-01"
state_dir = "node-01"
period_s = 5
[verifier]
address = "$VERIFIER"
insecure = true
challenge_key = "$(field challenge.json public_key)"
[log]
vkey = "$(field log.json vkey)"
[[sources]]
kind = "auto"
EOF
$PW/pausewatch-attestor run --config node-01.toml 2> node-01.log &
# Wait until the verifier's receipt for a report is back and checked (two 5-s periods).
receipt_for_seq_1() {
  $PW/pausewatch-attestor status --config node-01.toml --json 2>/dev/null |
    python3 -c 'import json,sys; sys.exit(0 if (json.load(sys.stdin).get("last_receipt") or {}).get("seq", -1) >= 1 else 1)'
}
wait_until 120 $! node-01.log receipt_for_seq_1
$PW/pausewatch-attestor status --config node-01.toml

# 5. The auditor: an export, verified offline against keys it pinned itself (obtained from the
#    verifier and the lab out of band: here, the keys printed in step 1).
$PW/pausewatch-verifier export --config verifier.toml --out bundle
printf 'log %s\nquorum none\n' "$(field log.json vkey)" > my-policy.txt
cat > my-roots.toml <<EOF
format = "pausewatch-audit-roots"
version = 1
verdict_key = "$(field verdict.json public_key)"
challenge_key = "$(field challenge.json public_key)"
[[labs]]
lab_id = "lab-1"
public_keys = ["$(field lab.json public_key)"]
facilities = ["fac-a"]
EOF
$PW/pausewatch-audit verify bundle --policy my-policy.txt --roots my-roots.toml --html report.html
