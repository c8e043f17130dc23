"""Composition roots: the processes `wqmon` runs, wired from their parts."""
