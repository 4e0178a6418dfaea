"""Encryption and signatures: age encryption to public keys, bech32, station keys, streaming hashes,
canonical JSON, signed documents.
"""
