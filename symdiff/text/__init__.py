"""symdiff.text."""
