"""symdiff.core."""
