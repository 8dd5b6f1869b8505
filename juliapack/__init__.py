"""juliapack: a Julia inference pipeline, packed for an offline Kaggle code competition."""

__version__ = "0.1.0"
