"""symdiff.numeric."""
