"""The vault portal: a server-rendered web application for the few named viewers.

HTTPS only (uvicorn with the certificate and key from the vault config), individual accounts
(scrypt password hash + TOTP, files with mode 0600), rate-limited login with lockout, idle
session timeout, CSRF tokens on every form, strict security headers, and no JavaScript beyond
the video element. Every rule about who may open, hold, transfer or withdraw what is the one in
``vault.access`` that the command line also uses; the portal only asks it. A viewing is written
to the access log before anything is decrypted; the footage is then decrypted chunk by chunk
for each HTTP range request and never written to disk.
"""
