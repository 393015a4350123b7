#!/usr/bin/env bash
# Stop the single-node test cluster started by tests/cluster/start_slurm.sh and remove what it
# wrote (/etc/slurm/slurm.conf and gres.conf if they carry its marker, the state directory).
# Cancels the cluster's jobs first. Stops munged only if start_slurm.sh started it.
# Safe to run when nothing is running.
#
#   tests/cluster/stop_slurm.sh [--keep-munge]
set -uo pipefail

STATE=${PS2F_SLURM_DIR:-${TMPDIR:-/tmp}/ps2f-slurm}
CONF=/etc/slurm/slurm.conf
GRES_CONF=/etc/slurm/gres.conf
MARKER="# ps2f test cluster: written by tests/cluster/start_slurm.sh"
keep_munge=0
[ "${1:-}" = "--keep-munge" ] && keep_munge=1

ours() { [ -e "$1" ] && head -n 1 "$1" | grep -qF "$MARKER"; }

# stop_pids PIDFILE...: TERM each recorded pid, wait up to 10 s for all, then KILL what is left.
# Only pids recorded by start_slurm.sh (or by the daemons it started) are signalled.
stop_pids() {
  local f pid pids=()
  for f in "$@"; do
    [ -s "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 100); do
    [ "${#pids[@]}" = 0 ] && break
    kill -0 "${pids[@]}" 2>/dev/null || break   # kill -0 fails only if none of them is alive
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  rm -f "$@"
}

if ours "$CONF" && [ -s "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  # every job on this cluster is a test job: cancel them so no slurmstepd outlives slurmd
  scancel --user=root 2>/dev/null
  for _ in $(seq 100); do
    [ -z "$(squeue -h -t RUNNING,COMPLETING,PENDING 2>/dev/null)" ] && break
    sleep 0.1
  done
fi
daemons=("$STATE/slurmd.pid" "$STATE/slurmctld.pid")
if [ "$keep_munge" = 0 ] && [ -s "$STATE/munged.started" ]; then
  daemons+=("$(cat "$STATE/munged.started")")
  rm -f "$STATE/munged.started"
fi
stop_pids "${daemons[@]}"
ours "$CONF" && rm -f "$CONF"
ours "$GRES_CONF" && rm -f "$GRES_CONF"
if [ "$keep_munge" = 0 ] || [ ! -e "$STATE/munged.started" ]; then
  rm -rf "$STATE"
else
  # restarting: keep only the record that munged is ours
  find "$STATE" -mindepth 1 ! -name munged.started -delete 2>/dev/null
fi
echo "stop_slurm: stopped; removed $STATE and this script's files in /etc/slurm"
