"""From camera to durable copy: the offload pipeline, media probe, direct I/O, recording ids, tags, and
the single wipe gate.
"""
