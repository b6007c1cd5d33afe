"""Helpers for running ttsearch on existing Ray clusters (job submission, token auth, storage checks)."""
