#!/usr/bin/env bash
# A single-node Slurm on this machine, for testing cluster/slurm/atelier.sbatch (Debian's slurmd,
# slurmctld and munge packages; root). Everything lives in DIR (default /tmp/atelier-slurm): the
# configuration, state, logs and a munge key; the daemons listen on localhost only.
#
#   test-cluster.sh up [--dir DIR]     start munged, slurmctld and slurmd; wait until the node is idle
#   test-cluster.sh down [--dir DIR]   stop them and remove DIR
#   test-cluster.sh env [--dir DIR]    print the export line that points Slurm's commands at it
set -euo pipefail
cmd=${1:-}; shift || true
dir=/tmp/atelier-slurm
while [[ $# -gt 0 ]]; do case $1 in --dir) dir=$2; shift 2 ;; *) echo "unknown argument $1" >&2; exit 2 ;; esac; done
die() { echo "test-cluster.sh: $*" >&2; exit 2; }

up() {
    [[ $(id -u) -eq 0 ]] || die "needs root"
    for tool in munged slurmctld slurmd sbatch; do command -v $tool > /dev/null || die "$tool is missing: apt-get install slurmd slurmctld slurm-client munge"; done
    down_quietly
    # The daemons must not inherit the caller's descriptors beyond stdio (munged keeps them all):
    # a caller waiting for one of them to close, as Foundation's Process does, would wait forever.
    for fd in /proc/$$/fd/*; do
        fd=${fd##*/}
        if (( fd > 2 )); then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    mkdir -p "$dir"/{state,spool,log,munge}
    chmod 700 "$dir/munge"
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    # (daemons get no terminal and none of the caller's pipes: a caller reading our output to its
    # end would otherwise wait for them)
    munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/socket" \
        --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" \
        < /dev/null >> "$dir/log/munged.log" 2>&1
    local cpus mem
    cpus=$(nproc)
    mem=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1024 - 1024 ))
    cat > "$dir/slurm.conf" <<CONF
ClusterName=atelier-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
JobRequeue=1
ReturnToService=2
KillWait=30
MinJobAge=3600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    export SLURM_CONF=$dir/slurm.conf
    if (exec 3<> /dev/tcp/127.0.0.1/16817) 2> /dev/null; then die "port 16817 is in use (another Slurm?): stop it first"; fi
    slurmctld -f "$dir/slurm.conf" < /dev/null >> "$dir/log/slurmctld.log" 2>&1
    slurmd -f "$dir/slurm.conf" < /dev/null >> "$dir/log/slurmd.log" 2>&1
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qx idle; then echo "slurm up: export SLURM_CONF=$dir/slurm.conf"; return 0; fi
        sleep 1
    done
    down_quietly_keep_logs
    die "the node did not become idle within 60 s; see $dir/log"
}

down_quietly_keep_logs() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
}

down_quietly() {
    for pidfile in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [[ -f $pidfile ]] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$dir"
}

case $cmd in
    up) up ;;
    down) down_quietly; echo "slurm stopped" ;;
    env) echo "export SLURM_CONF=$dir/slurm.conf" ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
