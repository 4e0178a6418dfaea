"""Camera adapters: the API every adapter implements, and the bundled adapters."""
