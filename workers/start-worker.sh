#!/bin/sh
# Start `automl worker` from the environment; secrets stay in the environment, never in argv.
#   AUTOML_BROKER   redis://:password@host:6379/0          (required)
#   AUTOML_STORAGE  postgresql://user:password@host/db or redis://... (required)
#   AUTOML_QUEUES   comma-separated queues                  (default: automl)
#   AUTOML_GPUS     all | none | 0,1                         (default: all)
#   AUTOML_TRIALS_PER_GPU, AUTOML_CONCURRENCY               (default: 1, 1)
#   AUTOML_LEASE_S  seconds of silence before a trial is lost (default: 30; read by automl)
# Any arguments are passed on to `automl worker`; a first argument that is not an option is
# run instead (e.g. `start-worker automl run studies/x.yaml --backend celery`).
set -eu

if [ "$#" -gt 0 ] && [ "${1#-}" = "$1" ]; then
  exec "$@"
fi

: "${AUTOML_BROKER:?set AUTOML_BROKER to the Redis broker URL}"
: "${AUTOML_STORAGE:?set AUTOML_STORAGE to the Optuna storage URL}"

exec automl worker \
  --queues "${AUTOML_QUEUES:-automl}" \
  --gpus "${AUTOML_GPUS:-all}" \
  --trials-per-gpu "${AUTOML_TRIALS_PER_GPU:-1}" \
  --concurrency "${AUTOML_CONCURRENCY:-1}" \
  "$@"
