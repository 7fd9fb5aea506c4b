#!/usr/bin/env bash
# Container entrypoint for the `comments` image.
#
#   (no arguments) | serve [OPTIONS]   comments serve --host 0.0.0.0 --port ${PORT:-8000} [OPTIONS]
#   -OPTION …                          the same: options go to `comments serve`
#   migrate                            comments migrate, and exit
#   comments ARGS…                     comments ARGS… as given
#   SUBCOMMAND ARGS…                   comments SUBCOMMAND ARGS… (site, moderator, model, worker…)
#   PROGRAM ARGS…                      any other program on PATH (sh, python…), as given
#
# Environment read here (the server itself reads only COMMENTS_* settings):
#   PORT                     port `serve` listens on (8000)
#   COMMENTS_MIGRATE=1       run `comments migrate` before `serve`; a failed migration stops
#                            the container instead of starting a node on an old schema
#   COMMENTS_TORCH_THREADS   when unset, set from the container's CPU quota (cgroup v2
#                            cpu.max), else from nproc: one torch thread per core
#   COMMENTS_CPU_MAX_FILE    where to read cpu.max (/sys/fs/cgroup/cpu.max); for tests
#
# The final program is exec'd: it runs as this process, so SIGTERM reaches uvicorn, which
# finishes requests in flight and closes sockets with 1012 before exiting.
set -euo pipefail

# Cores this container may use: its cgroup v2 CPU quota ("QUOTA PERIOD", or "max PERIOD"
# for none) rounded down, at least 1 and at most nproc (the CPUs it is allowed to run on).
cpu_cores() {
  local cpus quota period cores
  cpus=$(nproc)
  cores=$cpus
  if [ -r "${COMMENTS_CPU_MAX_FILE:-/sys/fs/cgroup/cpu.max}" ]; then
    read -r quota period _ <"${COMMENTS_CPU_MAX_FILE:-/sys/fs/cgroup/cpu.max}" || true
    if [[ "${quota:-}" =~ ^[0-9]+$ && "${period:-}" =~ ^[1-9][0-9]*$ ]]; then
      cores=$((quota / period))
      [ "$cores" -ge 1 ] || cores=1
      [ "$cores" -le "$cpus" ] || cores=$cpus
    fi
  fi
  echo "$cores"
}

if [ -z "${COMMENTS_TORCH_THREADS:-}" ]; then
  COMMENTS_TORCH_THREADS=$(cpu_cores)
  export COMMENTS_TORCH_THREADS
fi
# torch's and BLAS's own pools size themselves from the host's cores, not the quota.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$COMMENTS_TORCH_THREADS}"
export MKL_NUM_THREADS="${MKL_NUM_THREADS:-$COMMENTS_TORCH_THREADS}"

serve() {
  case "${COMMENTS_MIGRATE:-}" in
    1 | true | yes | on) comments migrate ;;
  esac
  exec comments serve --host 0.0.0.0 --port "${PORT:-8000}" "$@"
}

if [ "$#" -eq 0 ]; then
  serve
fi
case "$1" in
  serve) shift; serve "$@" ;;
  -*) serve "$@" ;;
  comments) exec "$@" ;;
esac
if command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec comments "$@"
