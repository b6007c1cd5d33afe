"""A search run end to end: the driver (checks, Ray start-up, Tuner, resume), one search per folder
(the lock), the live progress table, and the held-out pass after the search."""
