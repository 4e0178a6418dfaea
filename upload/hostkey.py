"""The vault's pinned SSH host key: one known_hosts line from the config, never trust on first use."""

from __future__ import annotations

import re
from dataclasses import dataclass

import paramiko
from paramiko.hostkeys import HostKeyEntry, HostKeys, InvalidHostKey

# What a server may present for each pinned key type (RSA keys sign with SHA-2 variants).
_SIGNATURE_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}


class HostKeyConfigError(ValueError):
    """The configured known_hosts line is unusable or does not name the configured host."""


@dataclass(frozen=True)
class PinnedHostKey:
    key: paramiko.PKey
    line: str

    @property
    def key_type(self) -> str:
        return self.key.get_name()

    @property
    def algorithms(self) -> tuple[str, ...]:
        """Host key algorithms to offer, so the server presents the pinned key and no other."""
        return _SIGNATURE_ALGORITHMS.get(self.key_type, (self.key_type,))

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.key)

    def matches(self, presented: paramiko.PKey) -> bool:
        return presented.get_name() == self.key_type and presented.asbytes() == self.key.asbytes()

    @classmethod
    def parse(cls, line: str, host: str, port: int) -> PinnedHostKey:
        text = line.strip()
        if text.startswith("@"):
            raise HostKeyConfigError("markers (@cert-authority, @revoked) are not supported; pin the host key itself")
        try:
            entry = HostKeyEntry.from_line(re.sub(r"\s+", " ", text))
        except (InvalidHostKey, ValueError) as exc:
            raise HostKeyConfigError(f"known_hosts line is not valid: {exc}") from None
        if entry is None or entry.key is None:
            raise HostKeyConfigError("known_hosts line is not valid or has an unsupported key type")
        keys = HostKeys()
        for name in entry.hostnames:
            keys.add(name, entry.key.get_name(), entry.key)
        lookup = host if port == 22 else f"[{host}]:{port}"
        if keys.lookup(lookup) is None:
            raise HostKeyConfigError(f"known_hosts line does not name {lookup}")
        return cls(entry.key, text)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style SHA256 fingerprint, as `ssh-keygen -l` prints it."""
    return f"{key.get_name()} {key.fingerprint}"
