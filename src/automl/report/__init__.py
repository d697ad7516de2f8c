"""What people read: live progress, status and summary tables, the HTML report."""

from automl.report.progress import PlainProgress, RichProgress, make_progress
from automl.report.summary import study_status, summary_table, top_trials

__all__ = ["PlainProgress", "RichProgress", "make_progress", "study_status", "summary_table", "top_trials"]
