"""Assessment scoring (A2.3–A2.5, A2.8). ``method`` is the documented scoring method as pure functions."""
