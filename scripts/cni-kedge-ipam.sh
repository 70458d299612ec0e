#!/bin/sh
# Kedge's IPAM plugin: host-local, plus pod-IP retention across sandbox recreation.
#
# Why: host-local keys allocations by sandbox (container) id and frees them on DEL, so a pod whose
# sandbox is recreated (agent or host restart) would get a new IP. containerd passes the pod's
# identity in CNI_ARGS (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID). We remember the IP each pod
# got in <reservationDir>/<namespace>_<name>_<uid> and, on the next ADD for the same pod, ask
# host-local for that address through its `IP=` CNI_ARGS. If the address is taken meanwhile we fall
# back to a fresh one. The pod manager deletes the reservation when the pod is finally deleted.
# host-local hands out addresses round-robin, so a released address is reused only after the range wraps.
set -u
conf="$(cat)"
hl="$(dirname "$0")/host-local"
resv_dir="$(printf '%s' "$conf" | tr -d '\n' | sed -n 's/.*"reservationDir"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
arg() { printf '%s' "${CNI_ARGS:-}" | tr ';' '\n' | sed -n "s/^$1=//p" | head -n1; }
ns="$(arg K8S_POD_NAMESPACE)"; name="$(arg K8S_POD_NAME)"; uid="$(arg K8S_POD_UID)"
key=""
[ -n "$resv_dir" ] && [ -n "$name" ] && key="$resv_dir/${ns}_${name}_${uid}"

if [ "${CNI_COMMAND:-}" = ADD ] && [ -n "$key" ] && [ -s "$key" ]; then
  want="$(cat "$key")"
  if out="$(printf '%s' "$conf" | CNI_ARGS="${CNI_ARGS:-IgnoreUnknown=1};IP=$want" "$hl")"; then
    printf '%s' "$out"; exit 0
  fi
fi
out="$(printf '%s' "$conf" | "$hl")"; rc=$?
if [ $rc -eq 0 ] && [ "${CNI_COMMAND:-}" = ADD ] && [ -n "$key" ]; then
  ip="$(printf '%s' "$out" | tr -d '\n ' | sed -n 's/.*"address":"\([0-9.]*\)\/.*/\1/p')"
  [ -n "$ip" ] && { mkdir -p "$resv_dir"; printf '%s' "$ip" >"$key.tmp" && mv "$key.tmp" "$key"; }
fi
printf '%s' "$out"
exit $rc
