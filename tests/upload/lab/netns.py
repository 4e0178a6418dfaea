"""A network namespace joined to the host by a veth pair, with optional shaping and loss.

Addresses come from 10.<a>.<b>.0/30 picked per namespace, so parallel test runs do not collide;
nothing outside the namespace and its veth peer is touched.
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
from dataclasses import dataclass


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, check=check, capture_output=True, text=True)


@dataclass
class NetNs:
    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    def exec(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run("ip", "netns", "exec", self.name, *cmd, check=check)

    def popen_args(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]

    def shape(self, rate: str = "1gbit", burst: str = "256kb", latency: str = "20ms") -> None:
        """Token-bucket rate limit in both directions of the veth link."""
        _run("tc", "qdisc", "replace", "dev", self.host_if, "root", "tbf",
             "rate", rate, "burst", burst, "latency", latency)
        self.exec("tc", "qdisc", "replace", "dev", self.ns_if, "root", "tbf",
                  "rate", rate, "burst", burst, "latency", latency)

    def set_loss(self, percent: float) -> None:
        """Drop about ``percent`` % of packets entering and leaving the namespace (0 clears)."""
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
        _run("ip", "link", "del", self.host_if, check=False)
        _run("ip", "netns", "del", self.name, check=False)


def create(prefix: str = "bd") -> NetNs:
    tag = f"{os.getpid() % 10000:04d}{random.randrange(100):02d}"
    a, b = random.randrange(64, 250), random.randrange(0, 64) * 4
    ns = NetNs(name=f"{prefix}-{tag}", host_if=f"{prefix}h{tag}", ns_if=f"{prefix}n{tag}",
               host_ip=f"10.{a}.{b // 256}.{b % 256 + 1}", ns_ip=f"10.{a}.{b // 256}.{b % 256 + 2}")
    try:
        _run("ip", "netns", "add", ns.name)
        _run("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if)
        _run("ip", "link", "set", ns.ns_if, "netns", ns.name)
        _run("ip", "addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
        _run("ip", "link", "set", ns.host_if, "up")
        ns.exec("ip", "addr", "add", f"{ns.ns_ip}/30", "dev", ns.ns_if)
        ns.exec("ip", "link", "set", ns.ns_if, "up")
        ns.exec("ip", "link", "set", "lo", "up")
    except BaseException:
        with contextlib.suppress(Exception):
            ns.delete()
        raise
    return ns
