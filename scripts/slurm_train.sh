#!/bin/bash
# Multi-node data-parallel training of a difflab config under SLURM: one torchrun per node, one process per GPU.
#
#   sbatch --nodes=2 --gpus-per-node=4 scripts/slurm_train.sh --config cifar10_ddpm --name c10
#   sbatch --nodes=1 --gpus-per-node=8 scripts/slurm_train.sh --config mnist_ddpm --name mnist lr=1e-3
#
# Everything after the script name goes to `difflab train` (flags and key=value overrides). `--resume` is always
# passed, so the job is safe to repeat: a fresh run starts, an interrupted one continues from checkpoints/latest.pt.
# 120 s before the time limit SLURM signals this script (--signal=B:USR1@120); it sends SIGTERM to srun, which passes
# it to torchrun on every node and torchrun to its workers: all ranks stop together at the next log point, rank 0
# writes one checkpoint, and the script requeues the job (--requeue), which then resumes.
#
# Needs: difflab installed on every node (activate its environment below), the data readable on every node, and the
# run directory (runs/ or --root) on a shared file system: rank 0 writes checkpoints, every rank reads them to resume.
#SBATCH --job-name=difflab
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=04:00:00
#SBATCH --signal=B:USR1@120
#SBATCH --requeue
#SBATCH --output=slurm-%x-%j.out
set -euo pipefail

# source /path/to/difflab/.venv/bin/activate            # the environment difflab is installed in
PORT=${PORT:-29500}                                      # rendezvous port on the first node
GPUS_PER_NODE=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-1}} # processes per node; set GPUS_PER_NODE=k for k CPU processes
head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# export NCCL_SOCKET_IFNAME=ib0                          # the interface between nodes, if there are several

echo "difflab: $SLURM_NNODES node(s) x $GPUS_PER_NODE process(es), rendezvous at $head:$PORT, job $SLURM_JOB_ID"
srun --kill-on-bad-exit=1 torchrun --nnodes="$SLURM_NNODES" --nproc_per_node="$GPUS_PER_NODE" \
     --rdzv_id="$SLURM_JOB_ID" --rdzv_backend=c10d --rdzv_endpoint="$head:$PORT" \
     -m difflab.cli train --resume --no-progress "$@" &
pid=$!
stop() {
    echo "difflab: time limit near, stopping at the next log point and requeueing"
    kill -TERM "$pid"; wait "$pid" || true
    scontrol requeue "$SLURM_JOB_ID"
    exit 0
}
trap stop USR1
set +e
wait "$pid"
