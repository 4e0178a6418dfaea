"""bodydock-vault: the receiving side, on the municipality's vault host (never on a dock).

Over the folder the docks deliver into, it verifies each delivery against the station that sent
it (trust store, signatures, hashes, decrypt-verify), keeps a metadata catalog, opens footage only
for a logged purpose, applies retention and legal holds, handles consent withdrawal, and makes
signed transfer packages for police and OM.
"""
