"""``ttsearch plan``: a space checked against its model and counted (parameters, trials per method,
bands, brackets, memory) with no Ray and no weights."""
from search import forwarding_getattr

__getattr__ = forwarding_getattr("search.plan", "search.plan.space_plan")
