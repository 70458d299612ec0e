#!/usr/bin/env bash
# The one test command (`npm test`). Installs and starts what the suites need, builds, runs every suite.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ]; then npm ci; fi
bash scripts/install-system-deps.sh containerd runc containernetworking-plugins busybox-static iproute2 nftables etcd-server postgresql-15 mosquitto
npm run --silent build
# Unit tests live beside the code (src/**/*.test.ts); acceptance suites under test/.
mapfile -t files < <(find src test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency=1 --test-timeout=600000 "${files[@]}"
