#!/usr/bin/env bash
# Creates / destroys a network namespace with a veth pair for Janus (Janus skips loopback interfaces when
# gathering ICE candidates, so it needs a non-loopback interface; the traffic never leaves the namespace).
#   netns.sh up   [ns]   -> namespace <ns> (default starling-janus) with lo up, v0=10.99.0.1/24, v1=10.99.0.2/24
#   netns.sh down [ns]   -> deletes it (kills every process still inside it first)
#   netns.sh exec [ns] -- cmd args...   -> ip netns exec
# Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN). Alternative without named namespaces:
#   unshare --net bash -c '. scripts/janus/netns.sh inline; ...'  (sets up the same links in the current ns)
set -euo pipefail
ADDR0=${JANUS_NS_ADDR0:-10.99.0.1}; ADDR1=${JANUS_NS_ADDR1:-10.99.0.2}
links() { # run inside the target namespace
  ip link set lo up
  ip link show v0 >/dev/null 2>&1 || ip link add v0 type veth peer name v1
  ip addr replace "$ADDR0/24" dev v0
  ip addr replace "$ADDR1/24" dev v1
  ip link set v0 up; ip link set v1 up
}
# Whether namespace $1 exists (the list is read whole: `ip netns list | grep -q` fails under pipefail when grep
# exits before ip has written everything).
has_ns() { local all; all=$(ip netns list 2>/dev/null) || return 1; grep -qw "^$1" <<<"$all"; }
cmd=${1:-}; shift || true
case "$cmd" in
  up)
    ns=${1:-starling-janus}
    has_ns "$ns" || ip netns add "$ns"
    ip netns exec "$ns" bash -c "$(declare -f links); ADDR0=$ADDR0 ADDR1=$ADDR1 links"
    echo "$ns" ;;
  down)
    ns=${1:-starling-janus}
    if has_ns "$ns"; then
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
      sleep 0.5
      for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
      ip netns del "$ns"
    fi ;;
  exec)
    ns=starling-janus; if [ "${1:-}" != "--" ]; then ns=$1; shift; fi
    [ "${1:-}" = "--" ] && shift
    exec ip netns exec "$ns" "$@" ;;
  inline) links ;;
  *) echo "usage: $0 up|down [ns] | exec [ns] -- cmd... | inline" >&2; exit 2 ;;
esac
