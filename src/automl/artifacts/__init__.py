"""Model artefacts: ``automl export`` retrains the best configuration and writes a folder
(weights as safetensors, preprocessing as JSON, no pickle); ``automl predict`` reads it."""
