"""``python -m search`` is ``ttsearch``."""
from search.cli import main

main()
