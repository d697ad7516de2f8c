"""`automl report`: one self-contained HTML page (plotly.js inlined; opens offline)."""

from __future__ import annotations

import html
import json
from collections import Counter
from typing import Any

import optuna
from optuna.trial import FrozenTrial
from plotly.offline import get_plotlyjs

from automl.masking import mask_url
from automl.report.figures import Figure, report_figures
from automl.report.format import fmt_params, fmt_value
from automl.search.attrs import best_epoch_of, note_of, resumed_from_epoch_of, worker_of
from automl.search.outcomes import best_trial
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
    best = best_trial(study)
    e = html.escape
    head = f"<h1>{e(study.study_name)}</h1>"
    facts = [f"{len(trials)} trials: " + (", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none")]
    if spec is not None and spec.own_code:
        facts.insert(0, f"{spec.primary.name} ({spec.direction.value}) from your own code; storage {mask_url(spec.storage)}")
    elif spec is not None:
        facts.insert(0, f"{spec.primary.name} ({spec.direction.value}) on {spec.dataset.source}, "
                        f"{spec.dataset.cv.describe()}, model {spec.model.family}; storage {mask_url(spec.storage)}")  # fmt: skip
    if best is not None:
        facts.append(f"best {fmt_value(best.value)} (trial {best.number}, epoch {best_epoch_of(best) or '?'}): "
                     f"{fmt_params(best.params, 50)}")  # fmt: skip
    head += "".join(f'<p class="sub">{e(f)}</p>' for f in facts)
    sections = "".join(_figure_section(f) for f in report_figures(study))
    table = _trial_table(trials)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>automl report: {e(study.study_name)}</title><style>{_STYLE}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{head}{sections}"
        f"<section id='trials'><h2>Trials</h2>{table}</section><script>{_SORT_JS}</script></body></html>"
    )


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


def _trial_table(trials: list[FrozenTrial]) -> str:
    columns = ["trial", "state", "value", "best epoch", "last epoch", "duration (s)", "worker", "params", "reason"]
    rows = []
    for t in trials:
        duration = t.duration.total_seconds() if t.duration else None
        worker, note, best_epoch = worker_of(t), note_of(t), best_epoch_of(t)
        resumed = resumed_from_epoch_of(t)
        if resumed:  # a resumed trial says so, whatever else it ended with
            note = f"resumed from the checkpoint of epoch {resumed}" + (f"; {note}" if note else "")
        rows.append(
            "<tr>"
            + _cell(t.number, t.number, True)
            + f"<td class='{t.state.name}' data-v='{t.state.name}'>{t.state.name.lower()}</td>"
            + _cell(fmt_value(t.value), t.value, True)
            + _cell(best_epoch or "", best_epoch, True)
            + _cell(t.last_step if t.last_step is not None else "", t.last_step, True)
            + _cell(f"{duration:.1f}" if duration is not None else "", duration, True)
            + _cell(worker, worker)
            + _cell(fmt_params(t.params, 50), json.dumps(t.params, sort_keys=True, default=str))
            + _cell(note, note)
            + "</tr>"
        )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    return f"<table class='sortable' id='trial-table'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
