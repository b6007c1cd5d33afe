"""Single source of the library version (read by __init__ and written into adapter files)."""

__version__ = "0.1.0"
