"""Recorder process: a hidden subscriber that writes per-track files and a manifest."""
