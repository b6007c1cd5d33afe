"""``python -m ttsearch`` is ``ttsearch``."""
from ttsearch.main import main

main()
