"""Logging set-up for the processes automl starts (the CLI configures its own)."""

from __future__ import annotations

import logging
import os


def configure_worker_logging() -> None:
    """Warnings and above to stderr, one line each; AUTOML_LOG_LEVEL=INFO shows more."""
    level = os.environ.get("AUTOML_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(processName)s %(levelname)s %(name)s: %(message)s"
    )
