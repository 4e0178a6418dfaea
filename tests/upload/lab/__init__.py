"""Test and benchmark lab for the SFTP uploader: a real OpenSSH sshd, network namespaces with
shaping and loss, a delaying TCP proxy and a small filesystem for disk-full faults.

Everything here needs root and touches only 127.0.0.1/::1 or addresses inside namespaces it
creates itself.
"""
