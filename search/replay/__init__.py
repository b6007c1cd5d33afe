"""``ttsearch replay``: scheduling and searching decisions re-run on a recorded experiment with no
training, and their summary tables."""
from search import forwarding_getattr

__getattr__ = forwarding_getattr("search.replay", "search.replay.replay_search")
