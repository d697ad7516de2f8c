"""AutoML defaults: what a minimal study file leaves out, chosen from the data and the machine."""

from automl.auto.resolve import Choice, DataFacts, complete_spec

__all__ = ["Choice", "DataFacts", "complete_spec"]
