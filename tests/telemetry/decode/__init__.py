"""Tests of the metrics decoders."""
