"""Experiment folders -> DataFrames -> Pareto fronts -> plotly reports -> exports. No torch here."""
