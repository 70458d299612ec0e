#!/usr/bin/env bash
# Fresh machine → running Kedge control plane. Installs Debian packages and npm dependencies, builds, starts `kedge server`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh ca-certificates containerd runc containernetworking-plugins iproute2
[ -d node_modules ] || npm ci
npm run --silent build
DATA_DIR=${KEDGE_DATA_DIR:-$PWD/.kedge-data}
echo "kedge: data dir $DATA_DIR; kubeconfig will be $DATA_DIR/admin.kubeconfig"
exec node bin/kedge.js server --data-dir "$DATA_DIR" "$@"
