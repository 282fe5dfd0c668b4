#!/usr/bin/env bash
# A private two-node Slurm cluster on this machine, for tests and trying the slurm executor.
#
#   eval "$(bash scripts/slurm-cluster.sh)"        # start (or reuse); prints SLURM_CONF=…
#   bash scripts/slurm-cluster.sh --stop           # stop it and remove its work folder
#
# One munged on a private socket with its own key, one slurmctld and two slurmd
# (`slurmd -N node1`, `-N node2`) on free loopback ports, every state, spool and log file
# under $WFOBJ_SLURM_DIR (default /tmp/wfobj-slurm). Nothing under /etc is touched: the
# Slurm commands find the cluster through SLURM_CONF. Needs the Debian packages slurm-wlm
# and munge, and root (slurmd runs jobs as their submitting user).
set -euo pipefail

DIR="${WFOBJ_SLURM_DIR:-/tmp/wfobj-slurm}"
CONF="$DIR/slurm.conf"
SOCKET="$DIR/munge/munge.socket"
NODES=(node1 node2)
CPUS_PER_NODE="${WFOBJ_SLURM_CPUS:-2}"
MEMORY_MB="${WFOBJ_SLURM_MEMORY_MB:-4096}"
# seconds without an answer from a slurmd before the controller declares its node DOWN and
# ends its jobs NODE_FAIL (Slurm's default is 300; a test that kills a slurmd waits this long)
NODE_TIMEOUT="${WFOBJ_SLURM_NODE_TIMEOUT:-6}"

say() { printf 'slurm-cluster: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop() {
    local pidfile
    for pidfile in "$DIR"/run/slurmd-*.pid "$DIR/run/slurmctld.pid" "$DIR/munge/munged.pid"; do
        [ -f "$pidfile" ] || continue
        if pid_alive "$pidfile"; then
            kill "$(cat "$pidfile")" 2>/dev/null || true
        fi
    done
    for _ in $(seq 50); do
        local alive=0
        for pidfile in "$DIR"/run/*.pid "$DIR/munge/munged.pid"; do
            pid_alive "$pidfile" && alive=1
        done
        [ "$alive" -eq 0 ] && break
        sleep 0.1
    done
    rm -rf "$DIR"
    say "stopped; removed $DIR"
}

if [ "${1:-}" = "--stop" ]; then
    stop
    exit 0
fi

for tool in munged slurmctld slurmd sinfo; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found: apt-get install slurm-wlm munge"
done

running() {
    pid_alive "$DIR/munge/munged.pid" && pid_alive "$DIR/run/slurmctld.pid" &&
        pid_alive "$DIR/run/slurmd-node1.pid" && pid_alive "$DIR/run/slurmd-node2.pid"
}

nodes_idle() {
    local up
    up="$(SLURM_CONF="$CONF" sinfo -h -N -o '%N %t' 2>/dev/null | awk '$2 ~ /^(idle|mix|alloc)/' | wc -l)"
    [ "$up" -eq "${#NODES[@]}" ]
}

free_ports() {  # N free loopback TCP ports
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

if running && nodes_idle; then
    echo "SLURM_CONF=$CONF; export SLURM_CONF"
    exit 0
fi
[ -d "$DIR" ] && stop

mkdir -p "$DIR"/{munge,run,log,state,spool}
chmod 700 "$DIR/munge"
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$DIR/munge/munge.key"
munged --force --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed" ||
    die "munged did not start: $(tail -3 "$DIR/log/munged.log" 2>/dev/null)"

read -r CTLD_PORT PORT1 PORT2 <<<"$(free_ports 3)"
USER_NAME="$(id -un)"
cat >"$CONF" <<EOF
# written by scripts/slurm-cluster.sh: a private two-node cluster on one machine
ClusterName=wfobj
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmUser=$USER_NAME
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool/%n
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd-%n.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
MinJobAge=600
KillWait=5
InactiveLimit=0
SlurmdTimeout=$NODE_TIMEOUT
SlurmctldTimeout=30
MessageTimeout=10
NodeName=node1 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$PORT1 CPUs=$CPUS_PER_NODE RealMemory=$MEMORY_MB State=UNKNOWN
NodeName=node2 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$PORT2 CPUs=$CPUS_PER_NODE RealMemory=$MEMORY_MB State=UNKNOWN
PartitionName=wfobj Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
mkdir -p "$DIR/spool/node1" "$DIR/spool/node2"

export SLURM_CONF="$CONF"
slurmctld -f "$CONF" -i || die "slurmctld did not start: $(tail -3 "$DIR/log/slurmctld.log")"
for node in "${NODES[@]}"; do
    slurmd -f "$CONF" -N "$node" || die "slurmd $node did not start: $(tail -3 "$DIR/log/slurmd-$node.log")"
done

for _ in $(seq 300); do
    nodes_idle && break
    sleep 0.1
done
nodes_idle || die "nodes did not come up: $(SLURM_CONF="$CONF" sinfo -N 2>&1 | tail -3)"
say "two nodes up (slurmctld on 127.0.0.1:$CTLD_PORT), work folder $DIR"
echo "SLURM_CONF=$CONF; export SLURM_CONF"
