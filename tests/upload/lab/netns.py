"""Network namespaces for the lab: loss (nftables) inside one, and for the benchmark a veth pair
into one with tbf shaping.

Tests use a namespace without a veth: the client reaches it through a forwarder that listens on
127.0.0.1 and connects from inside the namespace (see ``delayproxy --to-netns``), so a test
touches only 127.0.0.1 here and 127.0.0.1 inside its own namespace. The benchmark's veth pair
uses 198.18.0.0/15, the range reserved for benchmarking (RFC 2544), never routed anywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import random
import socket
import subprocess
import threading
from dataclasses import dataclass

CLONE_NEWNET = 0x40000000


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


@dataclass
class NetNs:
    name: str
    host_if: str = ""  # veth end in the root namespace (benchmark only)
    ns_if: str = "lo"  # where loss applies: the veth end, or the namespace's loopback
    host_ip: str = ""
    ns_ip: str = "127.0.0.1"

    def exec(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.name, *cmd, check=check)

    def popen_args(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def shape(self, rate: str = "1gbit", burst: str = "256kb", latency: str = "20ms") -> None:
        """Token-bucket rate limit in both directions of the veth link."""
        assert self.host_if, "shaping needs the veth pair"
        _run("tc", "qdisc", "replace", "dev", self.host_if, "root", "tbf",
             "rate", rate, "burst", burst, "latency", latency)
        self.exec("tc", "qdisc", "replace", "dev", self.ns_if, "root", "tbf",
                  "rate", rate, "burst", burst, "latency", latency)

    def set_loss(self, percent: float) -> None:
        """Drop about ``percent`` % of packets on ``ns_if`` in both directions (0 clears)."""
        self.exec("nft", "delete", "table", "inet", "bdloss", check=False)
        if percent <= 0:
            return
        every = max(2, round(100 / percent))
        drop = "" if percent >= 100 else f"numgen random mod {every} == 0 "
        rules = f"""
table inet bdloss {{
  chain input {{
    type filter hook input priority 0; policy accept;
    iifname "{self.ns_if}" {drop}drop
  }}
  chain output {{
    type filter hook output priority 0; policy accept;
    oifname "{self.ns_if}" {drop}drop
  }}
}}
"""
        subprocess.run(["ip", "netns", "exec", self.name, "nft", "-f", "-"], input=rules, text=True,
                       check=True, capture_output=True)

    def delete(self) -> None:
        if self.host_if:
            _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.name, check=False)


def connect_inside(name: str, address: tuple[str, int], timeout: float = 10.0) -> socket.socket:
    """A TCP connection made from inside namespace ``name`` (the socket stays there)."""
    result: list[socket.socket | BaseException] = []

    def run() -> None:
        # setns changes only this thread's namespace; the thread ends right after.
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {name} failed")
            result.append(socket.create_connection(address, timeout=timeout))
        except BaseException as exc:
            result.append(exc)
        finally:
            os.close(fd)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def create(prefix: str = "bd", *, veth: bool = False) -> NetNs:
    tag = f"{os.getpid() % 10000:04d}{random.randrange(100):02d}"
    ns = NetNs(name=f"{prefix}-{tag}")
    if veth:
        b = random.randrange(0, 16384) * 4  # a /30 in 198.18.0.0/16
        ns.host_if, ns.ns_if = f"{prefix}h{tag}", f"{prefix}n{tag}"
        ns.host_ip = f"198.18.{b // 256}.{b % 256 + 1}"
        ns.ns_ip = f"198.18.{b // 256}.{b % 256 + 2}"
    try:
        _run("ip", "netns", "add", ns.name)
        ns.exec("ip", "link", "set", "lo", "up")
        if veth:
            _run("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
            _run("ip", "link", "set", ns.ns_if, "netns", ns.name)
            _run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
            _run("ip", "link", "set", ns.host_if, "up")
            ns.exec("ip", "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if)
            ns.exec("ip", "link", "set", ns.ns_if, "up")
    except BaseException:
        with contextlib.suppress(Exception):
            ns.delete()
        raise
    return ns
