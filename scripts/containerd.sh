#!/usr/bin/env bash
# Kedge's own containerd: start | stop | status | env.
#
# It runs with its own config, root, state and socket under Kedge directories so it never clashes
# with a system containerd (or another engineer's test run). Everything is overridable through env:
#   KEDGE_CONTAINERD_ROOT   (default /var/lib/kedge/containerd)   persistent content, snapshots
#   KEDGE_CONTAINERD_STATE  (default /run/kedge/containerd)       runtime state
#   KEDGE_CONTAINERD_SOCK   (default /run/kedge/containerd.sock)  gRPC socket (CRI v1 + containerd API)
#   KEDGE_CNI_CONF_DIR      (default /etc/kedge/cni/net.d)        CNI network config (written here)
#   KEDGE_CNI_BIN_DIR       (default /var/lib/kedge/cni/bin)      Debian plugins + Kedge's IP-retaining IPAM
#   KEDGE_CNI_STATE_DIR     (default /var/lib/kedge/cni)          host-local allocations + per-pod IP reservations
#   KEDGE_CNI_BRIDGE        (default kedge0)                      Linux bridge the pods attach to
#   KEDGE_POD_CIDR          (default 10.88.0.0/16)                this node's pod CIDR (bridge + host-local)
#   KEDGE_SANDBOX_IMAGE     (default kedge.local/pause:1)         built from busybox-static and imported by Kedge
# start is idempotent: if the socket answers, nothing happens. stop kills only the pid we recorded.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ROOT="${KEDGE_CONTAINERD_ROOT:-/var/lib/kedge/containerd}"
STATE="${KEDGE_CONTAINERD_STATE:-/run/kedge/containerd}"
SOCK="${KEDGE_CONTAINERD_SOCK:-/run/kedge/containerd.sock}"
CNI_CONF_DIR="${KEDGE_CNI_CONF_DIR:-/etc/kedge/cni/net.d}"
CNI_BIN_DIR="${KEDGE_CNI_BIN_DIR:-/var/lib/kedge/cni/bin}"
CNI_STATE_DIR="${KEDGE_CNI_STATE_DIR:-/var/lib/kedge/cni}"
POD_CIDR="${KEDGE_POD_CIDR:-10.88.0.0/16}"
SANDBOX_IMAGE="${KEDGE_SANDBOX_IMAGE:-kedge.local/pause:1}"
BRIDGE="${KEDGE_CNI_BRIDGE:-kedge0}"
CONFIG="$ROOT/config.toml"
PIDFILE="$STATE/containerd.pid"
LOG="$ROOT/containerd.log"

answering() { [ -S "$SOCK" ] && ctr -a "$SOCK" version >/dev/null 2>&1; }

write_cni() {
  mkdir -p "$CNI_CONF_DIR" "$CNI_BIN_DIR" "$CNI_STATE_DIR/reservations" "$CNI_STATE_DIR/host-local"
  # Debian's plugins, linked (not copied) so package upgrades apply; plus Kedge's IPAM wrapper.
  for p in /usr/lib/cni/*; do ln -sfn "$p" "$CNI_BIN_DIR/$(basename "$p")"; done
  install -m 0755 "$here/cni-kedge-ipam.sh" "$CNI_BIN_DIR/kedge-ipam"
  cat >"$CNI_CONF_DIR/10-kedge.conflist" <<JSON
{
  "cniVersion": "0.4.0",
  "name": "kedge",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "$BRIDGE",
      "isGateway": true,
      "ipMasq": true,
      "hairpinMode": true,
      "ipam": {
        "type": "kedge-ipam",
        "reservationDir": "$CNI_STATE_DIR/reservations",
        "ranges": [[{ "subnet": "$POD_CIDR" }]],
        "routes": [{ "dst": "0.0.0.0/0" }],
        "dataDir": "$CNI_STATE_DIR/host-local"
      }
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
JSON
}

write_config() {
  mkdir -p "$ROOT" "$STATE" "$(dirname "$SOCK")"
  local snapshotter=overlayfs
  grep -qw overlay /proc/filesystems || snapshotter=native
  cat >"$CONFIG" <<TOML
version = 2
root = "$ROOT"
state = "$STATE"
[grpc]
  address = "$SOCK"
[ttrpc]
  address = "$SOCK.ttrpc"
[debug]
  address = "$SOCK.debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$SANDBOX_IMAGE"
  enable_selinux = false
  # Never ask for an oom_score_adj below containerd's own: in restricted hosts (VMs, nested
  # sandboxes) lowering it is denied and every sandbox would fail to start.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "$snapshotter"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNI_BIN_DIR"
    conf_dir = "$CNI_CONF_DIR"
    max_conf_num = 1
TOML
}

case "${1:-}" in
  start)
    if answering; then echo "containerd already answering on $SOCK"; exit 0; fi
    command -v containerd >/dev/null || bash "$here/install-system-deps.sh" containerd runc containernetworking-plugins busybox-static iproute2 iptables
    write_config
    write_cni
    rm -f "$SOCK"
    # setsid: the daemon outlives the shell that started it (tests stop it explicitly).
    setsid containerd --config "$CONFIG" >>"$LOG" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 100); do answering && { echo "containerd started on $SOCK (pid $(cat "$PIDFILE"))"; exit 0; }; sleep 0.2; done
    echo "containerd did not answer on $SOCK within 20s; log: $LOG" >&2; tail -20 "$LOG" >&2; exit 1
    ;;
  stop)
    if [ -f "$PIDFILE" ]; then
      pid="$(cat "$PIDFILE")"
      if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
      fi
      rm -f "$PIDFILE"
    fi
    answering || rm -f "$SOCK" "$SOCK.ttrpc"
    echo "containerd stopped ($SOCK)"
    ;;
  status)
    if answering; then echo "running on $SOCK"; else echo "not running ($SOCK)"; exit 3; fi
    ;;
  env)
    echo "KEDGE_CONTAINERD_SOCK=$SOCK"; echo "KEDGE_CNI_CONF_DIR=$CNI_CONF_DIR"; echo "KEDGE_POD_CIDR=$POD_CIDR"
    ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
