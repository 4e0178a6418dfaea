"""From the store to the vault: the deliverer, the vault-target interface, signed audit segments and
upload time windows.
"""
