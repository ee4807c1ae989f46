"""Property tests (Hypothesis): the wire schema and the selection rules."""
