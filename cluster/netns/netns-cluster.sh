#!/usr/bin/env bash
# A multi-host test cluster on one machine: N "hosts" as Linux network namespaces, each with one
# interface on a private bridge, optionally with shaped links, and an OpenMPI hostfile for them.
# OpenMPI reaches the hosts through netns-rsh (its plm_rsh_agent), and ranks on different hosts
# talk over TCP through the bridge, as on a real cluster's network.
#
#   netns-cluster.sh up N [--rate RATE] [--delay DELAY] [--slots S] [--dir DIR] [--name NAME]
#   netns-cluster.sh down [--dir DIR] [--name NAME]
#   netns-cluster.sh status [--dir DIR]
#   netns-cluster.sh mpirun [--dir DIR] -- MPIRUN-ARGS...   (runs mpirun on host 0 with the right options)
#   netns-cluster.sh link-root [--dir DIR] [--name NAME]    (this machine joins the bridge as 10.213.0.254)
#
# link-root lets the hosts reach a service of the machine itself (a test PostgreSQL ledger,
# cluster/postgres/test-server.sh --listen 10.213.0.254); `down` and `up` remove the link. The
# address is this machine's own, so one cluster at a time can be linked.
# RATE (e.g. 1gbit, 100mbit) caps each host's outgoing traffic; DELAY (e.g. 1ms) adds latency.
# Shaping uses tc netem when the kernel has it, else tbf (rate only; DELAY then is an error).
# Everything lives in namespaces NAME-switch and NAME-h0, NAME-h1, ...: the host's own network is
# not touched. NAME (default atelier; ATELIER_NETNS_NAME) tells clusters apart: `up` and `down`
# remove the namespaces of their own NAME only, so two clusters of different names can run at once
# (the tests give each theirs). Two clusters of one name are one: an `up` tears the other down under
# its running jobs, whose ranks then wait for peers they can no longer reach.
# Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN) and iproute2.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}; shift || true
dir=${ATELIER_NETNS_DIR:-/tmp/atelier-netns}
name=${ATELIER_NETNS_NAME:-atelier}
hosts="" rate="" delay="" slots=1
mpirun_args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --rate) rate=$2; shift 2 ;;
        --delay) delay=$2; shift 2 ;;
        --slots) slots=$2; shift 2 ;;
        --dir) dir=$2; shift 2 ;;
        --name) name=$2; shift 2 ;;
        --) shift; mpirun_args=("$@"); break ;;
        [0-9]*) hosts=$1; shift ;;
        *) echo "netns-cluster.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

die() { echo "netns-cluster.sh: $*" >&2; exit 2; }

# NAME-root, link-root's interface on this machine, must fit Linux's 15 characters
[[ $name =~ ^[a-z][a-z0-9]{0,9}$ ]] || die "--name '$name' is not 1 to 10 lower-case letters and digits, starting with a letter"
subnet=10.213.0          # private test subnet, only inside the namespaces
switch=$name-switch      # the namespace holding the bridge

down() {
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$name-(switch|h[0-9]+)\$" || true); do
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -f "$dir/hostfile" "$dir/hosts"
}

shape() {   # shape NS DEV
    local ns=$1 dev=$2
    [[ -z $rate && -z $delay ]] && return 0
    if tc -n "$ns" qdisc add dev "$dev" root netem ${rate:+rate $rate} ${delay:+delay $delay} 2>/dev/null; then
        return 0
    fi
    [[ -n $delay ]] && die "this kernel has no netem qdisc (sch_netem), so --delay cannot be applied; use --rate alone"
    # tbf: a token bucket at RATE, with a burst of about 1 ms of traffic (at least 64 KB)
    local bits
    local number=${rate%bit}; bits=$(numfmt --from=si "${number^^}" 2>/dev/null) || die "--rate '$rate' is not a rate like 1gbit or 100mbit"
    local burst=$(( bits / 8 / 1000 )); (( burst < 65536 )) && burst=65536
    tc -n "$ns" qdisc add dev "$dev" root tbf rate "$rate" burst "$burst" latency 100ms
}

up() {
    [[ -n $hosts && $hosts -ge 1 && $hosts -le 64 ]] || die "up needs a host count from 1 to 64, e.g. 'up 4'"
    [[ $(id -u) -eq 0 ]] || die "creating namespaces needs root"
    down
    mkdir -p "$dir"
    ip netns add $switch
    ip -n $switch link add br0 type bridge forward_delay 0 stp_state 0
    ip -n $switch link set br0 up
    : > "$dir/hostfile"; : > "$dir/hosts"
    for ((i = 0; i < hosts; i++)); do
        local ns=$name-h$i addr=$subnet.$((i + 1))
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        ip -n $switch link add "p$i" type veth peer name eth0 netns "$ns"
        ip -n $switch link set "p$i" master br0 up
        ip -n "$ns" addr add "$addr/24" dev eth0
        ip -n "$ns" link set eth0 up
        shape "$ns" eth0
        echo "$addr slots=$slots" >> "$dir/hostfile"
        echo "$addr $ns" >> "$dir/hosts"
    done
    # every bridge port forwards, and every host reaches host 0 (when ping is installed), before
    # anyone relies on it
    for _ in $(seq 50); do
        bridge -n $switch link show | grep -qv "state forwarding" || break
        sleep 0.1
    done
    command -v ping > /dev/null || hosts_to_check=0
    for ((i = 1; i < ${hosts_to_check:-$hosts}; i++)); do
        ip netns exec "$name-h0" ping -c 1 -W 2 "$subnet.$((i + 1))" > /dev/null || die "host $i does not answer on the bridge"
    done
    echo "$hosts hosts up (${rate:-unshaped}${delay:+, delay $delay}); hostfile $dir/hostfile"
}

status() {
    [[ -f $dir/hosts ]] || { echo "no netns cluster (no $dir/hosts)"; return 0; }
    while read -r addr ns; do
        echo "$ns $addr: $(tc -n "$ns" qdisc show dev eth0 | head -1)"
    done < "$dir/hosts"
}

root_address=$subnet.254

link_root() {
    [[ $(id -u) -eq 0 ]] || die "linking needs root"
    ip netns list | grep -q "^$switch\b" || die "no cluster is up: run 'netns-cluster.sh up N' first"
    ip link del "$name-root" 2>/dev/null || true
    ip link add "$name-root" type veth peer name root netns $switch
    ip -n $switch link set root master br0 up
    ip addr add "$root_address/24" dev "$name-root"
    ip link set "$name-root" up
    for _ in $(seq 50); do
        bridge -n $switch link show | grep -qv "state forwarding" || break
        sleep 0.1
    done
    echo "this machine is $root_address on the cluster's bridge"
}

run_mpirun() {
    [[ -f $dir/hostfile ]] || die "no cluster is up: run 'netns-cluster.sh up N' first"
    # TCP between hosts over the bridge only; shared memory within a host; OpenMPI's daemons are
    # started in each namespace by netns-rsh instead of ssh, and stay attached to it: an orted
    # that daemonizes under netns-rsh is sometimes lost, and mpirun then waits for it forever
    # (10 of 127 launches of 4 hosts hung so on a loaded 2-core machine, 0 of 150 attached).
    # Each orted would also map hwloc's topology into the biggest hole of its address space
    # (rtc/hwloc), which sometimes lands on its stack: a SIGSEGV in hwloc_shmem_topology_write
    # at start-up. Without the shared topology each process reads its own (vmhole none).
    local host0; host0=$(awk 'NR == 1 { print $2 }' "$dir/hosts")
    exec ip netns exec "$host0" env ATELIER_NETNS_DIR="$dir" mpirun \
        --hostfile "$dir/hostfile" --leave-session-attached \
        --mca plm_rsh_agent "$here/netns-rsh" --mca plm_rsh_no_tree_spawn 1 --bind-to none --mca rtc_hwloc_vmhole none \
        --mca btl self,vader,tcp --mca btl_tcp_if_include $subnet.0/24 --mca oob_tcp_if_include $subnet.0/24 \
        "${mpirun_args[@]}"
}

case $cmd in
    up) up ;;
    down) down; echo "netns cluster removed" ;;
    status) status ;;
    mpirun) run_mpirun ;;
    link-root) link_root ;;
    *) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
