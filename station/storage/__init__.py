"""What the station keeps on its own disk: the journal, the store of encrypted copies, the audit log
and where they live.
"""
