"""Experiment folders -> DataFrames -> Pareto fronts -> plotly reports -> exports. No torch here."""

DEFAULT_BROWSE_PORT = 8470  # ``ttsearch browse`` listens on 127.0.0.1:8470 unless --port says otherwise
# How ``ttsearch export`` picks its trial (``--by``): the best by a metric, or the best Pareto-front
# trial within a parameter budget.
BY_METRIC = "metric"
BY_PARETO = "pareto"
