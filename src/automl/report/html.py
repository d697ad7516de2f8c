"""`automl report`: one self-contained HTML page (plotly.js inlined; opens offline)."""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial, TrialState
from plotly.offline import get_plotlyjs

from automl.masking import mask_url
from automl.report.figure import Figure
from automl.report.figures import report_figures
from automl.report.format import fmt_params, fmt_value
from automl.report.multi_figures import multi_figures
from automl.report.objectives import (
    Objectives,
    fmt_objective,
    objectives_of,
    sorted_front,
    step_vectors_of,
)
from automl.search.attrs import best_epoch_of, note_of, resumed_from_epoch_of, worker_of
from automl.search.outcomes import best_trial, feasible
from automl.studyfile.schema import StudySpec

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0} section{margin:2rem 0}
.missing{color:#888;font-style:italic} table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f5f5f5;user-select:none} th.asc:after{content:" \\25B2"} th.desc:after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums} .COMPLETE{color:#1a7f37} .PRUNED{color:#9a6700}
.FAIL{color:#cf222e} .RUNNING,.WAITING{color:#0969da}
"""

# Click a header to sort by it; numbers sort as numbers, empty cells last.
_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th, col){
  th.addEventListener('click', function(){
    var table = th.closest('table'), body = table.tBodies[0];
    var asc = !th.classList.contains('asc');
    table.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc')});
    th.classList.add(asc ? 'asc' : 'desc');
    var rows = Array.from(body.rows);
    rows.sort(function(a, b){
      var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
      if (x === '' && y !== '') return 1; if (y === '' && x !== '') return -1;
      var nx = parseFloat(x), ny = parseFloat(y);
      var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
      return asc ? c : -c;
    });
    rows.forEach(function(r){ body.appendChild(r); });
  });
});
"""


def render_report(study: optuna.Study, spec: StudySpec | None) -> str:
    """The whole page as a string."""
    trials = study.get_trials(deepcopy=False)
    counts = Counter(t.state.name.lower() for t in trials)
    objectives = objectives_of(study)
    best = None if objectives.multi else best_trial(study)
    e = html.escape
    head = f"<h1>{e(study.study_name)}</h1>"
    facts = [f"{len(trials)} trials: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none")]
    if spec is not None:
        aim = objectives.describe() if objectives.multi else f"{spec.primary.name} ({spec.direction.value})"
        where = ("from your own code" if spec.own_code else
                 f"on {spec.dataset.source}, {spec.dataset.cv.describe()}, model {spec.model.family}")  # fmt: skip
        facts.insert(0, f"{aim} {where}; storage {mask_url(spec.storage)}")
        facts[1:1] = [f"constraints: {constraints_text(spec)}"] if spec.constraints else []
    elif objectives.multi:
        facts.insert(0, objectives.describe())
    if best is not None:
        facts.append(f"best {fmt_value(best.value)} (trial {best.number}, epoch {best_epoch_of(best) or '?'}): "
                     f"{fmt_params(best.params, 50)}")  # fmt: skip
    front: list[FrozenTrial] = []
    if objectives.multi:
        front = sorted_front(study, objectives)
        facts.append(front_fact(front, trials))
        primary = objectives.names.index(spec.primary.name) if spec is not None and spec.primary.name in objectives.names else 0
        figures = multi_figures(study, primary)
    else:
        figures = report_figures(study)
    head += "".join(f'<p class="sub">{e(f)}</p>' for f in facts)
    sections = "".join(_figure_section(f) for f in figures)
    table = _trial_table(trials, objectives, {t.number for t in front})
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>automl report: {e(study.study_name)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{head}{sections}"
        f"<section id='trials'><h2>Trials</h2>{table}</section><script>{_SORT_JS}</script></body></html>"
    )


def constraints_text(spec: StudySpec) -> str:
    """``params <= 50000, accuracy >= 0.9``."""
    parts = []
    for name, bound in spec.constraints.items():
        parts += [f"{name} >= {bound.min:g}"] if bound.min is not None else []
        parts += [f"{name} <= {bound.max:g}"] if bound.max is not None else []
    return ", ".join(parts)


def front_fact(front: list[FrozenTrial], trials: list[FrozenTrial]) -> str:
    """``Pareto front: 2 trials (#4, #7); 1 complete trial infeasible``."""
    infeasible = sum(1 for t in trials if t.state == TrialState.COMPLETE and not feasible(t))
    text = f"Pareto front: {len(front)} trial{'s' if len(front) != 1 else ''}"
    text += f" ({', '.join(f'#{t.number}' for t in front[:20])}{', ...' if len(front) > 20 else ''})" if front else ""
    return text + (f"; {infeasible} complete trial{'s' if infeasible != 1 else ''} infeasible" if infeasible else "")


def _figure_section(fig: Figure) -> str:
    title = html.escape(fig.title)
    if fig.figure is None:
        return f"<section id='{fig.key}'><h2>{title}</h2><p class='missing'>{html.escape(fig.missing)}</p></section>"
    div = fig.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{fig.key}", default_height=420)
    return f"<section id='{fig.key}'><h2>{title}</h2>{div}</section>"


def _cell(shown: Any, sort_value: Any = None, numeric: bool = False) -> str:
    v = "" if sort_value is None else str(sort_value)
    cls = " class='num'" if numeric else ""
    return f"<td{cls} data-v='{html.escape(v, quote=True)}'>{html.escape(str(shown))}</td>"


def _trial_table(trials: list[FrozenTrial], objectives: Objectives, front: set[int]) -> str:
    if objectives.multi:  # a column per objective, and whether the trial is on the front
        columns = ["trial", "state", *objectives.names, "front", "best epoch", "last epoch", "duration (s)", "worker", "hyperparameters", "reason"]
    else:
        columns = ["trial", "state", "value", "best epoch", "last epoch", "duration (s)", "worker", "params", "reason"]
    rows = []
    for t in trials:
        duration = t.duration.total_seconds() if t.duration else None
        worker, note, best_epoch = worker_of(t), note_of(t), best_epoch_of(t)
        resumed = resumed_from_epoch_of(t)
        last = t.last_step if not objectives.multi else max(step_vectors_of(t), default=None)  # intermediate_values
        if resumed:  # a resumed trial says so, whatever else it ended with
            note = f"resumed from the checkpoint of epoch {resumed}" + (f"; {note}" if note else "")
        rows.append(
            "<tr>"
            + _cell(t.number, t.number, True)
            + f"<td class='{t.state.name}' data-v='{t.state.name}'>{t.state.name.lower()}</td>"
            + (_objective_cells(t, objectives, front) if objectives.multi else _cell(fmt_value(t.value), t.value, True))
            + _cell(best_epoch or "", best_epoch, True)
            + _cell(last if last is not None else "", last, True)
            + _cell(f"{duration:.1f}" if duration is not None else "", duration, True)
            + _cell(worker, worker)
            + _cell(fmt_params(t.params, 50), json.dumps(t.params, sort_keys=True, default=str))
            + _cell(note, note)
            + "</tr>"
        )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return f"<table class='sortable' id='trial-table'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _objective_cells(t: FrozenTrial, objectives: Objectives, front: set[int]) -> str:
    complete = t.state == TrialState.COMPLETE and t.values is not None
    values = list(t.values) if complete else [None] * len(objectives.names)
    cells = "".join(_cell(fmt_objective(v), v, True) for v in values)
    where = "front" if t.number in front else ("infeasible" if complete and not feasible(t) else "")
    return cells + _cell(where, where)
