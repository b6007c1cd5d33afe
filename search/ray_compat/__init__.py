"""The bottom room of ``search/``: every private Ray name ttsearch uses, behind one accessor each
(``private_names.py``), so a Ray upgrade that renames one fails one test here, not a search."""
