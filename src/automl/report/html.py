"""`automl report`: one self-contained HTML page (plotly.js inlined; opens offline)."""

from __future__ import annotations

import html
from collections import Counter

import optuna
from optuna.trial import FrozenTrial, TrialState
from plotly.offline import get_plotlyjs

from automl.masking import mask_url
from automl.report.columns import REPORT, REPORT_FRONT, Column, best_line, columns_of
from automl.report.figure import Figure
from automl.report.figures import report_figures
from automl.report.multi_figures import multi_figures
from automl.report.objectives import objectives_of, sorted_front
from automl.search.outcomes import best_trial, feasible
from automl.search.trial_view import TrialView
from automl.studyfile.schema import StudySpec

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
h1{margin-bottom:.2rem} .sub{color:#666;margin-top:0} section{margin:2rem 0}
.missing{color:#888;font-style:italic} table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{cursor:pointer;background:#f5f5f5;user-select:none} th.asc:after{content:" \\25B2"} \
th.desc:after{content:" \\25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums} .COMPLETE{color:#1a7f37} \
.PRUNED{color:#9a6700}
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
    facts = [
        f"{len(trials)} trials: "
        + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none")
    ]
    if spec is not None:
        aim = (
            objectives.describe()
            if objectives.multi
            else f"{spec.primary.name} ({spec.direction.value})"
        )
        where = (
            "from your own code"
            if spec.own_code
            else (
                f"on {spec.dataset.source}, {spec.dataset.cv.describe()}, model {spec.model.family}"
            )
        )
        facts.insert(0, f"{aim} {where}; storage {mask_url(spec.storage)}")
        facts[1:1] = [f"constraints: {constraints_text(spec)}"] if spec.constraints else []
    elif objectives.multi:
        facts.insert(0, objectives.describe())
    if best is not None:
        facts.append(best_line(TrialView(best, objectives.names), 50))
    front: list[FrozenTrial] = []
    if objectives.multi:
        front = sorted_front(study, objectives)
        facts.append(front_fact(front, trials))
        primary = (
            objectives.names.index(spec.primary.name)
            if spec is not None and spec.primary.name in objectives.names
            else 0
        )
        figures = multi_figures(study, primary)
    else:
        figures = report_figures(study)
    head += "".join(f'<p class="sub">{e(f)}</p>' for f in facts)
    sections = "".join(_figure_section(f) for f in figures)
    on_front = {t.number for t in front}
    views = [TrialView(t, objectives.names, on_front=t.number in on_front) for t in trials]
    table = _trial_table(views, REPORT_FRONT if objectives.multi else REPORT, objectives.names)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>automl report: {e(study.study_name)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{head}{sections}"
        "<section "
        f"id='trials'><h2>Trials</h2>{table}</section><script>{_SORT_JS}</script></body></html>"
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
    text += (
        f" ({', '.join(f'#{t.number}' for t in front[:20])}{', ...' if len(front) > 20 else ''})"
        if front
        else ""
    )
    return text + (
        f"; {infeasible} complete trial{'s' if infeasible != 1 else ''} infeasible"
        if infeasible
        else ""
    )


def _figure_section(fig: Figure) -> str:
    title = html.escape(fig.title)
    if fig.figure is None:
        return (
            f"<section id='{fig.key}'><h2>{title}</h2><p "
            f"class='missing'>{html.escape(fig.missing)}</p></section>"
        )
    div = fig.figure.to_html(
        full_html=False, include_plotlyjs=False, div_id=f"plot-{fig.key}", default_height=420
    )
    return f"<section id='{fig.key}'><h2>{title}</h2>{div}</section>"


def _trial_table(views: list[TrialView], keys: tuple[str, ...], names: list[str]) -> str:
    columns = columns_of(keys, names)
    rows = "".join("<tr>" + "".join(_cell(c, v) for c in columns) + "</tr>" for v in views)
    head = "".join(f"<th>{html.escape(c.header)}</th>" for c in columns)
    return (
        "<table class='sortable' "
        f"id='trial-table'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    )


def _cell(column: Column, view: TrialView) -> str:
    sort = column.sort_value(view)
    v = "" if sort is None else str(sort)
    css = column.css(view) if column.css else ("num" if column.numeric else "")
    cls = f" class='{css}'" if css else ""
    return (
        f"<td{cls} data-v='{html.escape(v, quote=True)}'>{html.escape(column.text(view, ''))}</td>"
    )
