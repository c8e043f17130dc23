"""Field simulators speaking the real protocols, for tests and the demo."""
