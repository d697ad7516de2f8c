"""Create, resume and re-open Optuna studies; the resolved study file lives on the study.

Any process that knows the storage URL and the study name can rebuild everything: the study
file is stored (with credentials masked) in the study's user attribute ``automl:spec``.
"""

from __future__ import annotations

import hashlib
import json
import uuid
import warnings
from collections.abc import Mapping
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from automl.errors import SpecError, StorageError, UsageError
from automl.masking import mask_credentials, mask_url
from automl.search import internals
from automl.search.batch import set_trial_user_attrs
from automl.search.pruners import study_pruner
from automl.search.retry import retried
from automl.search.samplers import build_sampler
from automl.search.storage import make_storage
from automl.studyfile.schema import StudySpec
from automl.studyfile.space import BaseParam, suggest_params
from automl.trial_attrs import FAIL_KIND, FAIL_REASON, FailKind

SPEC_ATTR = "automl:spec"
# A random id given to the study when automl first opens it: claims and leases on the broker
# are keyed by it, so a study deleted and created again under the same name (or a same-named
# study in another storage) never mixes with this one.
UID_ATTR = "automl:uid"


def open_study(
    spec: StudySpec,
    storage_url: str,
    *,
    sampler: optuna.samplers.BaseSampler | None = None,
    pruner: optuna.pruners.BasePruner | None = None,
    retry_s: float | None = None,
) -> optuna.Study:
    """Create the study or load it for a resume, and store the resolved study file on it.

    ``sampler`` and ``pruner``: those built from ``spec`` already (by the checks before a run),
    used rather than built again; the sampler only where :func:`study_sampler` would build the
    same one (a new study, or a sampler its trial count does not reseed). ``retry_s``: how long
    the study's storage retries a lost connection (:func:`make_storage`)."""
    pruner = pruner if pruner is not None else study_pruner(spec)
    storage = make_storage(storage_url, retry_s=retry_s)
    try:
        existing = storage.get_study_id_from_name(spec.name)
    except KeyError:
        existing = None
    wanted = [o.direction.value for o in spec.objectives]  # type: ignore[union-attr]
    if existing is not None:
        directions = [d.name.lower() for d in storage.get_study_directions(existing)]
        if directions != wanted:
            raise SpecError(
                "objective",
                f"study {spec.name!r} already exists in this storage with direction(s) "
                f"{', '.join(directions)}; use another name to start a new study",
            )
    sampler = study_sampler(
        spec, storage.get_n_trials(existing) if existing is not None else 0, sampler
    )
    study = optuna.create_study(
        storage=storage,
        study_name=spec.name,
        directions=wanted,
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )
    if study.metric_names != spec.objective_names:
        # optuna-dashboard, the optuna CLI and best_trials read the objectives by these names.
        # "experimental" since Optuna 3.2; that is Optuna's to weigh
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(spec.objective_names)
    study.set_user_attr(SPEC_ATTR, stored_spec(spec))
    if not isinstance(study.user_attrs.get(UID_ATTR), str):
        study.set_user_attr(UID_ATTR, uuid.uuid4().hex)
    return study


def study_sampler(
    spec: StudySpec, n_trials: int, built: optuna.samplers.BaseSampler | None = None
) -> optuna.samplers.BaseSampler:
    """The sampler of a study that has ``n_trials`` trials already; seeded ``seed + n_trials``
    (``built``: the sampler of the study file as written, returned when that is the one).

    A seeded sampler built again with its seed starts its random stream over: a resumed study
    would draw the first run's points again while the sampler is still in its random start-up.
    Mixing in the trial count keeps a resume reproducible and its points new (a new study gets
    its seed as written). QMC continues its own sequence from the study (a new seed would
    scramble it differently), so it keeps its seed.
    """
    sampler = spec.search.sampler
    seed = sampler.options().get("seed")
    if n_trials and isinstance(seed, int) and sampler.type != "qmc":
        return build_sampler(sampler.model_copy(update={"seed": seed + n_trials}), spec.space)
    return built if built is not None else build_sampler(sampler, spec.space)


def spec_digest(stored: Any) -> str:
    """A short digest of a stored study file: a message carries it, so that a worker knows
    without reading the study whether the study file it parsed before is still the one."""
    text = json.dumps(stored, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def study_uid(storage: BaseStorage, study_id: int) -> str | None:
    """The study's uid (see :data:`UID_ATTR`); None for a study automl did not open."""
    value = storage.get_study_user_attrs(study_id).get(UID_ATTR)
    return value if isinstance(value, str) else None


def stored_spec(spec: StudySpec) -> dict[str, Any]:
    """The study file as stored on the study, with the password of every URL in it masked
    (storage, broker, tracking URIs, data URLs...): optuna-dashboard shows study attributes.
    Workers take credentials from their own flags and environment, never from here."""
    return _masked(spec.model_dump(mode="json"))


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_credentials(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def load_study(
    storage_url: str, study_name: str, *, retry_s: float | None = None
) -> tuple[optuna.Study, StudySpec]:
    """Re-open a study created by automl, with its pruner, from storage alone; its storage
    retries a lost connection for ``retry_s`` (:func:`make_storage`).

    Only the coordinator samples, so the study comes back with a neutral sampler: a worker's
    ``tell`` must not run sampler hooks (the grid sampler would try to stop the study).
    """
    storage = make_storage(storage_url, retry_s=retry_s)
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:
        names = [s.study_name for s in storage.get_all_studies()]
        known = ", ".join(names[:10]) or "none"
        raise UsageError(
            f"no study named {study_name!r} in {mask_url(storage_url)} (studies: {known})"
        ) from None
    raw = storage.get_study_user_attrs(study_id).get(SPEC_ATTR)
    if raw is None:
        raise StorageError(
            f"study {study_name!r} was not created by automl (no {SPEC_ATTR} attribute)"
        )
    spec = StudySpec.model_validate(raw)
    study = optuna.load_study(
        study_name=study_name,
        storage=storage,
        sampler=optuna.samplers.RandomSampler(),
        pruner=study_pruner(spec),
    )
    return study, spec


def fail_trial(study: optuna.Study, trial: FrozenTrial, reason: str, kind: FailKind) -> bool:
    """Mark a RUNNING trial failed with ``reason`` and ``kind``, straight in the storage; True
    if it was.

    False means the trial finished meanwhile (its worker told the storage first): its own
    outcome stands, and it must not be run again. Optuna refuses attributes on a finished
    trial, so the reason is written first; in that rare race a finished trial keeps a
    ``fail_reason`` that its state contradicts (the state is what counts). Unlike
    ``Study.tell`` this runs no sampler hooks, so it is safe outside ``optimize``.
    """
    storage, tid = internals.study_storage(study), internals.trial_id(trial)
    reason = mask_credentials(reason)  # a worker's error may quote a URL with its password
    try:
        set_trial_user_attrs(storage, tid, {FAIL_REASON: reason, FAIL_KIND: kind.value})
        return bool(storage.set_trial_state_values(tid, TrialState.FAIL))
    except UpdateFinishedTrialError:
        # Finished first by its worker, or by our own write retried after a lost reply.
        now = storage.get_trial(tid)
        return now.state == TrialState.FAIL and now.user_attrs.get(FAIL_REASON) == reason


def finish_trial(
    storage: BaseStorage,
    trial_id: int,
    state: TrialState,
    values: float | list[float] | None,
    attrs: dict[str, Any] | None = None,
) -> bool:
    """Write a RUNNING trial's outcome, with its last user attributes ``attrs``; False when it
    was finished already (its outcome stands; ``attrs`` may then be unwritten).

    What ``study.tell`` writes, without its two reads of the trial (before and after: twelve
    statements on an RDB storage) and without sampler hooks, which only the coordinator's
    sampler has. On PostgreSQL and SQLite the attributes, values and state go in one
    transaction (:func:`automl.search.internals.write_outcome_rdb`); elsewhere the attributes
    first, then Optuna's ``set_trial_state_values``. The caller has checked the values (finite,
    one per objective). A storage that retries (retry.py) retries the whole write.
    """
    if values is not None and not isinstance(values, list):
        values = [values]
    floats = [float(v) for v in values] if values is not None else None
    rdb = internals.rdb_of(storage)
    if internals.outcome_in_one_write(rdb):
        assert rdb is not None
        return retried(
            storage, internals.write_outcome_rdb, rdb, trial_id, state, floats, dict(attrs or {})
        )
    try:
        if attrs:
            set_trial_user_attrs(storage, trial_id, attrs)
        storage.set_trial_state_values(trial_id, state, floats)
    except UpdateFinishedTrialError:
        return False
    return True


def trial_id(storage: BaseStorage, study_name: str, number: int) -> int:
    """The storage's id of trial ``number`` of ``study_name``; KeyError if there is none."""
    return storage.get_trial_id_from_study_id_trial_number(
        storage.get_study_id_from_name(study_name), number
    )


def ask(study: optuna.Study, *, waiting: bool) -> optuna.Trial:
    """``study.ask()``, without its look for enqueued trials when the caller knows none waits.

    Optuna's ask reads every WAITING trial from the storage first; on the journal storage that
    filters the whole study, so each ask costs time linear in the study's size. The coordinator
    counts the trials it enqueued, and asks with ``waiting=False`` when it knows none is left:
    then a new trial is created directly (:func:`automl.search.internals.ask_without_waiting`,
    which says why the public ask is not used), which costs the same at 100 trials as at
    100,000.
    """
    return study.ask() if waiting else internals.ask_without_waiting(study)


def new_trials(study: optuna.Study, k: int) -> list[int]:
    """The ids of up to ``k`` new RUNNING trials, by number, for :func:`ask_params`: ``k`` in
    one transaction where the storage can (PostgreSQL:
    :func:`automl.search.internals.create_trials`, three statements for all instead of four each),
    else one."""
    storage, sid = internals.study_storage(study), internals.study_id(study)
    if k <= 1 or not internals.creates_in_bulk(storage):
        return [storage.create_new_trial(sid)]
    return retried(storage, internals.create_trials, getattr(storage, "inner", storage), sid, k)


def ask_params(
    study: optuna.Study, space: Mapping[str, BaseParam], *, waiting: bool, new_id: int | None = None
) -> tuple[int, dict[str, Any]]:
    """A new trial (:func:`ask`, or the trial ``new_id`` made by :func:`new_trials`) and its
    params drawn from ``space``, written together."""
    trial = internals.trial_on(study, new_id) if new_id is not None else ask(study, waiting=waiting)
    at_once = getattr(internals.study_storage(study), "params_at_once", None)
    if at_once is None:
        return trial.number, suggest_params(space, trial)
    with at_once(internals.trial_id(trial)):
        return trial.number, suggest_params(space, trial)


def trial_by_number(study: optuna.Study, number: int) -> FrozenTrial:
    storage = internals.study_storage(study)
    return storage.get_trial(
        storage.get_trial_id_from_study_id_trial_number(internals.study_id(study), number)
    )


def trial_number_of(study: optuna.Study, trial_id: int) -> int:
    """The number of the study's trial ``trial_id``."""
    return internals.study_storage(study).get_trial_number_from_id(trial_id)
