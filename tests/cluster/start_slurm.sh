#!/usr/bin/env bash
# Start a single-node SLURM cluster on this machine (localhost), for testing profiles/slurm.
#
# Needs root and the Debian packages `slurmctld slurmd slurm-client munge` (SLURM 22.05 on
# Debian 12); no systemd, no slurmdbd (so no sacct: use `slurm-status-command: squeue`).
#
#   tests/cluster/start_slurm.sh          # start (or keep running) the test cluster
#   tests/cluster/stop_slurm.sh           # stop it and remove everything it wrote
#
# Settings (environment variables):
#   PS2F_SLURM_DIR         state, spool, logs and pid files   (default: ${TMPDIR:-/tmp}/ps2f-slurm)
#   PS2F_SLURM_PARTITIONS  partition names, space-separated; the first is the default (default: debug)
#   PS2F_SLURM_GPUS        GPU types to fake on the node, space-separated `type:count` (default: none).
#                          The "GPUs" are scheduling tokens backed by empty files: SLURM accepts and
#                          allocates `--gpus=type:n`, but a job sees no device (torch falls back to CPU).
#   PS2F_SLURM_CPUS        CPUs the node declares (default: as measured). More than the machine has
#   PS2F_SLURM_MEM_MB      and MB of memory likewise (default: as measured): lets real-size requests
#                          be scheduled and small jobs run side by side; jobs then share the cores.
#
# The config must live at /etc/slurm/slurm.conf: inside each job, the Snakemake jobstep strips
# every SLURM_* variable (SLURM_CONF included) before calling srun. A config there that this
# script did not write is never touched (exit 3). Idempotent: if the cluster is already up with
# the same settings this is a no-op; with different settings it is restarted.
# Exit codes: 0 up; 2 not root or SLURM/munge not installed; 3 foreign slurm.conf; 1 start failed.
set -euo pipefail

STATE=${PS2F_SLURM_DIR:-${TMPDIR:-/tmp}/ps2f-slurm}
PARTITIONS=${PS2F_SLURM_PARTITIONS:-debug}
GPUS=${PS2F_SLURM_GPUS:-}
CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
GRES_CONF=$CONF_DIR/gres.conf
MARKER="# ps2f test cluster: written by tests/cluster/start_slurm.sh"
HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "start_slurm: $1" >&2; exit "${2:-1}"; }

[ "$(id -u)" = 0 ] || die "must run as root (the daemons run as SlurmUser=root)" 2
for tool in munged munge unmunge slurmctld slurmd sinfo scontrol sbatch; do
  command -v "$tool" >/dev/null \
    || die "$tool not found: apt-get install slurmctld slurmd slurm-client munge" 2
done
for f in "$CONF" "$GRES_CONF"; do
  if [ -e "$f" ] && ! head -n 1 "$f" | grep -qF "$MARKER"; then
    die "$f exists and was not written by this script: refusing to touch a real cluster" 3
  fi
done

# --- the configuration -------------------------------------------------------------------------
node=$(hostname -s)
# CPUs, sockets, cores, threads and RealMemory as slurmd itself measures them
hw=$(slurmd -C | head -n 1 | sed -e 's/^NodeName=[^ ]* //')
overrides=""
if [ -n "${PS2F_SLURM_CPUS:-}${PS2F_SLURM_MEM_MB:-}" ]; then
  cpus=${PS2F_SLURM_CPUS:-$(sed -e 's/.*CPUs=\([0-9]*\).*/\1/' <<<"$hw")}
  mem=${PS2F_SLURM_MEM_MB:-$(sed -e 's/.*RealMemory=\([0-9]*\).*/\1/' <<<"$hw")}
  [[ "$cpus" =~ ^[0-9]+$ && "$mem" =~ ^[0-9]+$ ]] || die "PS2F_SLURM_CPUS/PS2F_SLURM_MEM_MB: not numbers" 2
  hw="CPUs=$cpus Boards=1 SocketsPerBoard=1 CoresPerSocket=$cpus ThreadsPerCore=1 RealMemory=$mem"
  overrides="SlurmdParameters=config_overrides"   # trust the declared size, not the measured one
fi
gres_node=""
gres_lines=""
if [ -n "$GPUS" ]; then
  for spec in $GPUS; do
    type=${spec%%:*}
    count=${spec##*:}
    [[ "$type" =~ ^[A-Za-z0-9_.]+$ && "$count" =~ ^[0-9]+$ && "$count" -gt 0 ]] \
      || die "PS2F_SLURM_GPUS: '$spec' is not type:count" 2
    files=()
    for ((i = 0; i < count; i++)); do
      files+=("$STATE/dev/gpu-$type-$i")
    done
    gres_node+="${gres_node:+,}gpu:$type:$count"
    gres_lines+="NodeName=$node Name=gpu Type=$type File=$(IFS=,; echo "${files[*]}")"$'\n'
  done
fi

new_conf=$(mktemp)
trap 'rm -f "$new_conf" "$new_conf.gres"' EXIT
{
  echo "$MARKER; removed by tests/cluster/stop_slurm.sh"
  cat <<EOF
ClusterName=ps2ftest
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
# no cgroups here: track processes through /proc, bind no tasks
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# cores and memory are consumable: several small jobs share the node
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without it a job with no --mem claims the whole node's memory
DefMemPerCPU=1000
# memory is enforced by polling /proc every second (no cgroups): a job over its --mem is killed
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
# finished jobs stay visible to squeue for 10 min (the executor polls squeue, there is no sacct)
MinJobAge=600
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
EOF
  [ -z "$overrides" ] || echo "$overrides"
  [ -z "$GPUS" ] || echo "GresTypes=gpu"
  echo "NodeName=$node NodeAddr=127.0.0.1 $hw${gres_node:+ Gres=$gres_node} State=UNKNOWN"
  default=YES
  for p in $PARTITIONS; do
    echo "PartitionName=$p Nodes=$node Default=$default MaxTime=INFINITE State=UP"
    default=NO
  done
} > "$new_conf"
{
  echo "$MARKER; removed by tests/cluster/stop_slurm.sh"
  echo "AutoDetect=off"
  printf '%s' "$gres_lines"
} > "$new_conf.gres"

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
node_state() { sinfo -h -N -n "$node" -o %T 2>/dev/null | head -n 1; }

if [ -e "$CONF" ] && cmp -s "$new_conf" "$CONF" && cmp -s "$new_conf.gres" "$GRES_CONF" \
  && alive "$STATE/slurmctld.pid" && alive "$STATE/slurmd.pid" \
  && [[ "$(node_state)" =~ ^(idle|mixed|allocated) ]]; then
  echo "start_slurm: already running (node $node: $(node_state); state in $STATE)"
  exit 0
fi
if [ -e "$CONF" ]; then
  echo "start_slurm: settings changed or daemons down: restarting"
  PS2F_SLURM_DIR=$STATE "$HERE/stop_slurm.sh" --keep-munge
fi

mkdir -p "$STATE/slurmctld" "$STATE/slurmd" "$STATE/dev" "$CONF_DIR"
# the fake GPUs' device files (gres.conf File=): empty, never opened by a job
sed -n -e 's/.* File=//p' "$new_conf.gres" | tr , '\n' | while read -r f; do : > "$f"; done
cp "$new_conf" "$CONF"
cp "$new_conf.gres" "$GRES_CONF"
chmod 644 "$CONF" "$GRES_CONF"

# --- munge (authentication between commands and daemons) ---------------------------------------
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  [ -s /etc/munge/munge.key ] || mungekey --create --keyfile=/etc/munge/munge.key
  chown munge:munge /etc/munge/munge.key
  chmod 600 /etc/munge/munge.key
  install -d -o munge -g munge -m 755 /run/munge
  install -d -o munge -g munge -m 711 /var/lib/munge
  install -d -o munge -g munge -m 700 /var/log/munge
  runuser -u munge -- munged --pid-file=/run/munge/munged.pid
  echo /run/munge/munged.pid > "$STATE/munged.started"   # stop_slurm.sh stops only what we started
  for _ in $(seq 50); do
    munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break
    sleep 0.1
  done
  munge -n | unmunge >/dev/null || die "munged did not start"
fi

# --- the daemons ----------------------------------------------------------------------------------
# -i: ignore saved state (jobs of an earlier run of this test cluster)
slurmctld -i -f "$CONF" || die "slurmctld did not start; see $STATE/slurmctld.log"
slurmd -f "$CONF" || die "slurmd did not start; see $STATE/slurmd.log"
for _ in $(seq 300); do
  state=$(node_state)
  [[ "$state" =~ ^(idle|mixed|allocated) ]] && break
  sleep 0.1
done
state=$(node_state)
if ! [[ "$state" =~ ^(idle|mixed|allocated) ]]; then
  tail -n 20 "$STATE/slurmctld.log" "$STATE/slurmd.log" >&2 || true
  die "node $node is '${state:-unknown}', not idle, after 30 s"
fi
echo "start_slurm: up (node $node: $state; partitions: $PARTITIONS${GPUS:+; GPUs: $GPUS}; state in $STATE)"
