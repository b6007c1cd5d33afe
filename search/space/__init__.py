"""The search space: the YAML file read (``extends:``, ``--set``) into typed sections, searched-parameter
specs, and their translation into a Ray Tune param space. It imports no
other room of ``search/``.

Pickled spaces of older versions name ``search.space.<Class>`` (the schema was one module then): this
package forwards those names to ``search.space.schema``, so an older folder's ``tuner.pkl`` still loads.
"""
from search import forwarding_getattr

__getattr__ = forwarding_getattr("search.space", "search.space.schema")
