"""Which adapter talks to a camera (registry, discovery by entry points) and how the core calls it
safely (timeouts, guarded calls).
"""
