"""``automl dashboard``: optuna-dashboard behind a token, a Host check and a cookie."""
