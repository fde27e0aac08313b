"""symdiff.lab."""
