"""``bodydock-vault portal serve``: the portal over HTTPS with uvicorn, and nothing over HTTP."""

from __future__ import annotations

import logging

import uvicorn

from station.crypto.keys import check_secret_file
from vault.config import VaultConfig
from vault.intake import load_identities
from vault.portal.app import Portal

log = logging.getLogger("bodydock-vault.portal")


def serve(cfg: VaultConfig, *, host: str | None = None, port: int | None = None) -> int:
    pc = cfg.portal
    if pc is None:
        raise ValueError("the vault config has no portal section (cert_file, key_file)")
    check_secret_file(pc.key_file)  # the TLS key is a secret: mode 0600 or the portal does not start
    if not pc.cert_file.is_file():
        raise FileNotFoundError(f"portal certificate {pc.cert_file} not found")
    portal = Portal(cfg, identities=load_identities(cfg.identity_file))
    config = uvicorn.Config(
        portal.app, host=host or pc.host, port=port if port is not None else pc.port,
        ssl_certfile=str(pc.cert_file), ssl_keyfile=str(pc.key_file),
        # The access log is the vault's own; uvicorn's would put viewing URLs in the journal.
        access_log=False, log_level="warning", server_header=False, proxy_headers=False, lifespan="off",
        timeout_keep_alive=15,
        # uvicorn's usual production loop and parser (docs/vault.md, the portal's benchmark).
        loop="uvloop", http="httptools",
    )
    server = uvicorn.Server(config)
    print(f"vault portal on https://{config.host}:{config.port}/ (state in {cfg.state_dir})", flush=True)
    try:
        server.run()
    finally:
        portal.close()
    return 0
