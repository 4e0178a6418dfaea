"""Build the bodydock appliance image and its A/B update bundles (see README.md).

Stages, each cached under ``out/`` and redone only when its inputs change:

1. ``base``: mmdebstrap of Debian 13 (trixie) with ``packages.txt`` (downloads cached in ``cache/apt``).
2. ``tree``: a copy of the base with bodydock's venv (a wheel of this checkout's git HEAD), the units,
   the generated udev rule, users, a dm-verity-capable initrd, and every baked-in secret removed.
3. ``image`` / ``bundle``: per image version, an erofs root, its dm-verity hash tree and one UKI per
   slot; the disk image (systemd-repart) and/or a RAUC bundle signed with the build's key.

Run as root (mmdebstrap, chroot, overlayfs). Stdlib only: it runs before the project venv exists.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = HERE / "out"
CACHE = HERE / "cache"
KEYS = HERE / "keys"  # the build's RAUC signing key (gitignored); production keys come from the environment
sys.path.insert(0, str(HERE))

from mirror import debian_mirror  # type: ignore[import-not-found,unused-ignore]  # noqa: E402

SUITE = "trixie"
COMPATIBLE = "bodydock-x86_64"
# Fixed partition sizes: a slot must hold any future root, so they are set with room to grow.
ESP_MB = 128
ROOT_MB = 1280
VERITY_MB = 64
CONFIG_MB = 16
SOURCE_DATE_EPOCH = int(os.environ.get("SOURCE_DATE_EPOCH", "1767225600"))  # 2026-01-01, for reproducible files
BUILD_CA = "/run/build-ca.crt"
BUILD_ONLY = ("gcc", "libc6-dev", "python3-dev", "linux-libc-dev")


def log(msg: str) -> None:
    print(f"image_build: {msg}", flush=True)


def run(*cmd: str | Path, **kw: object) -> subprocess.CompletedProcess[str]:
    args = [str(c) for c in cmd]
    return subprocess.run(args, check=True, text=True, **kw)  # type: ignore[call-overload,no-any-return]


def out_of(*cmd: str | Path) -> str:
    return run(*cmd, capture_output=True).stdout.strip()


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()[:16]


def tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        h.update(str(p.relative_to(path)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def packages() -> list[str]:
    lines = (HERE / "packages.txt").read_text().splitlines()
    return [x.strip() for x in lines if x.strip() and not x.startswith("#")]


# --- stage 1: base -----------------------------------------------------------------------------------------

def base() -> Path:
    mirror = debian_mirror()
    key = digest(SUITE, *packages(), out_of("mmdebstrap", "--version"))
    target = OUT / "base"
    stamp = OUT / "base.stamp"
    if target.is_dir() and stamp.exists() and stamp.read_text() == key:
        return target
    log(f"mmdebstrap {SUITE} from {mirror} ({len(packages())} packages)")
    remove_tree(target)
    (CACHE / "apt").mkdir(parents=True, exist_ok=True)
    run("mmdebstrap", "--variant=apt", "--components=main", "--include=" + ",".join(packages()),
        "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
        f"--setup-hook=sync-in {CACHE / 'apt'} /var/cache/apt/archives/",
        # Non-hostonly initrds from the start: the kernel's postinst would otherwise build one for this host.
        "--essential-hook=mkdir -p \"$1\"/etc/dracut.conf.d && "
        "echo 'hostonly=no' > \"$1\"/etc/dracut.conf.d/10-bodydock.conf",
        f"--customize-hook=sync-out /var/cache/apt/archives {CACHE / 'apt'}",
        "--dpkgopt=path-exclude=/usr/share/man/*", "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright", "--dpkgopt=path-exclude=/usr/share/locale/*",
        SUITE, target, mirror)
    stamp.write_text(key)
    return target


# --- stage 2: tree ------------------------------------------------------------------------------------------

@contextlib.contextmanager
def chroot_mounts(tree: Path) -> Iterator[None]:
    mounted: list[Path] = []
    try:
        for src, dst, opts in (("proc", "proc", ["-t", "proc"]), ("sysfs", "sys", ["-t", "sysfs"]),
                               ("/dev", "dev", ["--bind"])):
            run("mount", *opts, src, tree / dst)
            mounted.append(tree / dst)
        yield
    finally:
        for m in reversed(mounted):
            subprocess.run(["umount", "-l", str(m)], check=False)


def remove_tree(path: Path) -> None:
    """rm -rf, after unmounting whatever a failed earlier run left mounted below ``path``."""
    prefix = str(path.resolve()) + "/"
    for line in reversed(Path("/proc/mounts").read_text().splitlines()):
        where = line.split()[1].encode().decode("unicode_escape")
        if where.startswith(prefix):
            subprocess.run(["umount", "-l", where], check=False)
    shutil.rmtree(path, ignore_errors=True)
    if path.exists():
        raise SystemExit(f"cannot remove {path}")


def in_tree(tree: Path, *cmd: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "HOME": "/root",
           "SOURCE_DATE_EPOCH": str(SOURCE_DATE_EPOCH), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if (tree / BUILD_CA.lstrip("/")).exists():
        env["PIP_CERT"] = BUILD_CA  # this build host's CA bundle, bound in for pip only; never in the image
    return run("chroot", tree, *cmd, env=env, **kw)


# Files a wheel must hold that git does not track: the kiosk's compiled catalogs (made from the .po
# files). Without them the kiosk dies on start (gettext finds no catalog) and cage shows nothing.
GENERATED_IN_WHEEL = ("ui/locale/nl/LC_MESSAGES/bodydock.mo", "ui/locale/en/LC_MESSAGES/bodydock.mo")


def export_source(rev: str, dest: Path) -> None:
    """The tree of commit ``rev`` in ``dest``, with what ``make deps`` generates: the compiled catalogs."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    for po in sorted(dest.glob("ui/locale/*/LC_MESSAGES/*.po")):
        run("msgfmt", "--check", "-o", po.with_suffix(".mo"), po)


def wheel_complete(wheel: Path) -> bool:
    with zipfile.ZipFile(wheel) as z:
        return set(GENERATED_IN_WHEEL) <= set(z.namelist())


def source_wheel() -> Path:
    """A wheel of bodydock from this checkout's git HEAD (not from half-edited files in the work tree)."""
    rev = out_of("git", "-C", ROOT, "rev-parse", os.environ.get("BODYDOCK_SOURCE_REV", "HEAD"))
    dist = OUT / "dist" / rev[:12]
    wheels = sorted(dist.glob("bodydock-*.whl"))
    if wheels and wheel_complete(wheels[0]):
        return wheels[0]
    shutil.rmtree(dist, ignore_errors=True)  # a wheel from before the catalogs were compiled in
    log(f"building the bodydock wheel from git HEAD {rev[:12]}")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        export_source(rev, src)
        dist.mkdir(parents=True, exist_ok=True)
        pip = ROOT / ".venv" / "bin" / "pip"
        run(pip if pip.exists() else "pip3", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", dist, src)
    wheel = sorted(dist.glob("bodydock-*.whl"))[0]
    if not wheel_complete(wheel):
        raise SystemExit(f"{wheel.name} lacks {GENERATED_IN_WHEEL}: the kiosk could not start")
    return wheel


def overlay_inputs() -> str:
    units = ROOT / "docs" / "systemd"
    return digest(tree_digest(HERE / "rootfs"), tree_digest(units), (HERE / "build.py").read_text(),
                  (HERE / "udev_rule.py").read_text(), (HERE / "packages.txt").read_text(),
                  signing_material()[2].read_text())


def venv_tree() -> Path:
    """The base plus bodydock's venv (the slow, network-bound part), without build-only packages."""
    b = base()
    wheel = source_wheel()
    key = digest((OUT / "base.stamp").read_text(), str(wheel), hashlib.sha256(wheel.read_bytes()).hexdigest())
    target = OUT / "tree-venv"
    stamp = OUT / "tree-venv.stamp"
    if target.is_dir() and stamp.exists() and stamp.read_text() == key:
        return target
    log("bodydock venv from the wheel")
    remove_tree(target)
    run("cp", "-a", "--reflink=auto", b, target)
    with chroot_mounts(target):
        shutil.copy(wheel, target / "tmp" / wheel.name)
        (CACHE / "pip").mkdir(parents=True, exist_ok=True)
        (target / "root" / ".cache" / "pip").mkdir(parents=True, exist_ok=True)
        resolv = target / "etc" / "resolv.conf"
        resolv.unlink(missing_ok=True)
        shutil.copy("/etc/resolv.conf", resolv)  # pip needs names; replaced by resolved's stub below
        run("mount", "--bind", CACHE / "pip", target / "root" / ".cache" / "pip")
        host_ca = Path(os.environ.get("PIP_CERT") or os.environ.get("SSL_CERT_FILE")
                       or "/etc/ssl/certs/ca-certificates.crt")
        if host_ca.exists():
            shutil.copy(host_ca, target / BUILD_CA.lstrip("/"))
        try:
            in_tree(target, "python3", "-m", "venv", "/opt/bodydock/venv")
            in_tree(target, "/opt/bodydock/venv/bin/pip", "install", "-q", "--disable-pip-version-check",
                    "--no-compile", f"/tmp/{wheel.name}")
            in_tree(target, "/opt/bodydock/venv/bin/python", "-m", "compileall", "-q", "-j", "0",
                    "--invalidation-mode", "unchecked-hash", "/opt/bodydock/venv")
            freeze = in_tree(target, "/opt/bodydock/venv/bin/pip", "freeze", "--all", capture_output=True).stdout
        finally:
            subprocess.run(["umount", "-l", str(target / "root" / ".cache" / "pip")], check=False)
            (target / BUILD_CA.lstrip("/")).unlink(missing_ok=True)
        (target / "tmp" / wheel.name).unlink()
        (target / "usr/share/bodydock").mkdir(parents=True, exist_ok=True)
        (target / "usr/share/bodydock/requirements.lock").write_text(freeze)
        in_tree(target, "apt-get", "purge", "-y", "-qq", *BUILD_ONLY, stdout=subprocess.DEVNULL)
        in_tree(target, "apt-get", "autoremove", "--purge", "-y", "-qq", stdout=subprocess.DEVNULL)
    stamp.write_text(key)
    return target


def tree() -> Path:
    v = venv_tree()
    key = digest((OUT / "tree-venv.stamp").read_text(), overlay_inputs())
    target = OUT / "tree"
    stamp = OUT / "tree.stamp"
    if target.is_dir() and stamp.exists() and stamp.read_text() == key:
        return target
    log("assembling the root tree")
    remove_tree(target)
    run("cp", "-a", "--reflink=auto", v, target)
    with chroot_mounts(target):
        install_overlay(target)
        kver = sorted(p.name.removeprefix("vmlinuz-") for p in (target / "boot").glob("vmlinuz-*"))[-1]
        log(f"initrd for {kver} (dracut, with dm-verity)")
        in_tree(target, "dracut", "--force", "--quiet", "--no-hostonly", "--reproducible", "--compress", "zstd",
                "--add", "systemd-veritysetup", "--omit", "plymouth bluetooth nfs iscsi lvm mdraid multipath",
                "--add-drivers", "erofs dm-verity virtio_blk virtio_pci nvme ahci sd_mod usb_storage uas",
                f"/boot/initrd.img-{kver}", kver)
    scrub(target)
    check_no_secrets(target)
    stamp.write_text(key)
    return target


def install_overlay(t: Path) -> None:
    run("cp", "-a", "--no-preserve=ownership", f"{HERE / 'rootfs'}/.", t)
    units = t / "usr/lib/systemd/system"
    for unit in (ROOT / "docs" / "systemd").glob("*.service"):
        shutil.copy(unit, units / unit.name)
    # The udev rule from the descriptors of the adapters actually installed in the image's venv.
    shutil.copy(HERE / "udev_rule.py", t / "tmp/udev_rule.py")
    rule = in_tree(t, "/opt/bodydock/venv/bin/python", "/tmp/udev_rule.py", capture_output=True).stdout
    (t / "tmp/udev_rule.py").unlink()
    (t / "usr/lib/udev/rules.d/70-bodydock-cameras.rules").write_text(rule)
    (t / "data").mkdir(exist_ok=True)
    # The image trusts the bundle keyring: a public CA certificate, no secret.
    shutil.copy(signing_material()[2], t / "etc/rauc/keyring.pem")
    for script in (t / "usr/lib/bodydock").glob("*.sh"):
        script.chmod(0o755)
    in_tree(t, "systemd-sysusers")
    in_tree(t, "systemctl", "enable", "bodydock.service", "bodydock-kiosk.service", "bodydock-provision.service",
            "bodydock-health-check.service", "bodydock-bootentries.service", "systemd-networkd.service",
            "systemd-resolved.service", "chrony.service", "ssh.service", stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
    in_tree(t, "systemctl", "disable", "ssh.socket", "getty@tty1.service", stderr=subprocess.DEVNULL)
    # Nothing may write /etc or wait for a person at boot; no package updates outside A/B bundles.
    in_tree(t, "systemctl", "mask", "systemd-firstboot.service", "sshd-keygen.service", "apt-daily.timer",
            "apt-daily-upgrade.timer", "dpkg-db-backup.timer", "e2scrub_all.timer", "e2scrub_reap.service",
            "systemd-machine-id-commit.service", stderr=subprocess.DEVNULL)
    in_tree(t, "systemctl", "set-default", "graphical.target", stderr=subprocess.DEVNULL)
    resolv = t / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.symlink_to("../run/systemd/resolve/stub-resolv.conf")
    (t / "etc/hostname").write_text("bodydock\n")


def scrub(t: Path) -> None:
    """Remove what must differ per dock or must never be shared: host keys, ids, seeds, caches."""
    for pattern in ("etc/ssh/ssh_host_*", "var/lib/systemd/random-seed", "var/cache/apt/*.bin",
                    "var/lib/apt/lists/*", "var/cache/debconf/*-old", "var/log/*.log", "var/log/apt/*"):
        for p in t.glob(pattern):
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    (t / "etc/chrony/chrony.keys").write_text("")  # chrony's postinst made a random NTP key
    (t / "etc/machine-id").write_text("")  # systemd makes a transient one on a read-only /etc
    with contextlib.suppress(FileNotFoundError):
        (t / "var/lib/dbus/machine-id").unlink()
    shutil.rmtree(t / "root/.cache", ignore_errors=True)
    for p in (t / "tmp").iterdir():
        shutil.rmtree(p) if p.is_dir() else p.unlink()


SECRET = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]{40,}"
                    rb"|AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{50,}")


def check_no_secrets(t: Path) -> None:
    """Fail the build if a private key (PEM/OpenSSH) or an age identity is anywhere in the tree.

    Where a dock's own keys could end up (/etc, /var, /root, /home, /opt, /srv, /usr/local) is read;
    installed Python packages are skipped: their test data may hold well-known example keys, and the
    station's code only ever writes keys under /data. (Libraries in /usr/lib embed test vectors.)
    """
    found = []
    for dirpath, dirnames, filenames in (w for top in ("etc", "var", "root", "home", "opt", "srv", "usr/local")
                                         for w in os.walk(t / top)):
        rel = os.path.relpath(dirpath, t)
        if rel in ("proc", "sys", "dev") or "/site-packages" in "/" + rel:
            dirnames.clear()
            continue
        for name in filenames:
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file() or p.stat().st_size > 4 << 20:
                continue
            if SECRET.search(p.read_bytes()):
                found.append(str(p.relative_to(t)))
    if found:
        raise SystemExit(f"secret material in the image tree: {found}")


# --- stage 3: a version: root, verity, UKIs ----------------------------------------------------------------

@contextlib.contextmanager
def variant_tree(t: Path, version: str, broken: bool) -> Iterator[Path]:
    """The tree as of one image version: an overlay adds the version (and, for tests, a broken station)."""
    work = Path(tempfile.mkdtemp(prefix="variant-", dir=OUT))
    upper, wd, merged = work / "upper", work / "work", work / "merged"
    for d in (upper, wd, merged):
        d.mkdir()
    lib = upper / "usr/lib/bodydock"
    lib.mkdir(parents=True)
    (lib / "image-version").write_text(version + "\n")
    os_release = (t / "usr/lib/os-release").read_text()
    os_release = re.sub(r"(?m)^(IMAGE_ID|IMAGE_VERSION)=.*\n", "", os_release)
    (upper / "usr/lib/os-release").write_text(os_release + f"IMAGE_ID=bodydock\nIMAGE_VERSION={version}\n")
    if broken:
        # A release whose station cannot start: the health check after the reboot must fail and roll back.
        b = upper / "opt/bodydock/venv/bin"
        b.mkdir(parents=True)
        (b / "bodydock").write_text("#!/bin/sh\necho 'bodydock: this build is broken on purpose' >&2\nexit 1\n")
        (b / "bodydock").chmod(0o755)
    run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={t},upperdir={upper},workdir={wd}", merged)
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def version_dir(version: str, broken: bool) -> Path:
    return OUT / ("v" + version + ("-broken" if broken else ""))


def build_version(version: str, broken: bool = False) -> Path:
    """root.erofs, verity.img, uki-a.efi, uki-b.efi and info.json for one image version."""
    t = tree()
    vd = version_dir(version, broken)
    key = digest((OUT / "tree.stamp").read_text(), version, str(broken))
    stamp = vd / "stamp"
    if stamp.exists() and stamp.read_text() == key:
        return vd
    shutil.rmtree(vd, ignore_errors=True)
    vd.mkdir(parents=True)
    log(f"image version {version}{' (broken on purpose)' if broken else ''}: erofs root")
    h = hashlib.sha256(f"bodydock-root-{version}-{broken}".encode()).hexdigest()
    uuid = "-".join(h[i:j] for i, j in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
    with variant_tree(t, version, broken) as merged:
        run("mkfs.erofs", "-zlz4hc", "-T", str(SOURCE_DATE_EPOCH), "-U", uuid, "--quiet",
            "--exclude-regex=^(proc|sys|dev|run|tmp)/.+", vd / "root.erofs", merged, stdout=subprocess.DEVNULL)
    size = (vd / "root.erofs").stat().st_size
    if size > ROOT_MB * 1024 * 1024:
        raise SystemExit(f"root file system is {size >> 20} MiB, the slot holds {ROOT_MB} MiB")
    salt = h[:64]
    fmt = out_of("veritysetup", "format", "--salt", salt, "--uuid", uuid, vd / "root.erofs", vd / "verity.img")
    roothash = re.search(r"Root hash:\s+([0-9a-f]{64})", fmt)
    assert roothash, fmt
    info = {"version": version, "broken": broken, "roothash": roothash.group(1), "root_bytes": size,
            "verity_bytes": (vd / "verity.img").stat().st_size}
    for slot in ("a", "b"):
        uki(t, vd / f"uki-{slot}.efi", slot, roothash.group(1), version)
    (vd / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    stamp.write_text(key)
    return vd


def cmdline(slot: str, roothash: str) -> str:
    return " ".join([
        f"roothash={roothash}", f"systemd.verity_root_data=PARTLABEL=root-{slot}",
        f"systemd.verity_root_hash=PARTLABEL=verity-{slot}", "systemd.verity_root_options=panic-on-corruption",
        "root=/dev/mapper/root", "rootfstype=erofs", "ro", f"rauc.slot=bodydock-{slot}",
        # A slot that cannot boot must not hang: reboot, and the firmware's boot order falls back.
        "panic=10", "rd.shell=0", "rd.emergency=reboot", "console=tty1", "console=ttyS0,115200",
        "systemd.show_status=yes", "loglevel=4", "systemd.gpt_auto=0",
    ])


def uki(t: Path, dest: Path, slot: str, roothash: str, version: str) -> None:
    kver = sorted(p.name.removeprefix("vmlinuz-") for p in (t / "boot").glob("vmlinuz-*"))[-1]
    with tempfile.TemporaryDirectory(dir=t / "tmp") as tmp:
        inner = "/tmp/" + Path(tmp).name
        (Path(tmp) / "os-release").write_text((t / "usr/lib/os-release").read_text()
                                               + f"IMAGE_ID=bodydock\nIMAGE_VERSION={version}\n")
        in_tree(t, "ukify", "build", f"--linux=/boot/vmlinuz-{kver}", f"--initrd=/boot/initrd.img-{kver}",
                f"--cmdline={cmdline(slot, roothash)}", f"--os-release=@{inner}/os-release",
                f"--uname={kver}", f"--output={inner}/uki.efi", stdout=subprocess.DEVNULL)
        shutil.move(Path(tmp) / "uki.efi", dest)


# --- the disk image ----------------------------------------------------------------------------------------

def mtools_env() -> dict[str, str]:
    return {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def vfat(path: Path, size_mb: int, label: str, files: dict[str, Path]) -> None:
    path.unlink(missing_ok=True)
    with path.open("wb") as fh:
        fh.truncate(size_mb * 1024 * 1024)
    fat = ["-F", "32"] if size_mb >= 100 else []  # FAT32 for the ESPs; a small stick-like FAT for config
    run("mkfs.vfat", *fat, "-n", label, "-i", digest(label)[:8], path, stdout=subprocess.DEVNULL)
    for dest, src in files.items():
        parts = dest.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            subprocess.run(["mmd", "-D", "s", "-i", str(path), "::/" + "/".join(parts[:i])], env=mtools_env(),
                           capture_output=True)
        run("mcopy", "-o", "-i", path, src, "::/" + dest, env=mtools_env())


def image(version: str) -> Path:
    vd = build_version(version)
    disk = OUT / f"bodydock-{version}.raw"
    log(f"disk image {disk.name}")
    parts = OUT / f"parts-{version}"
    shutil.rmtree(parts, ignore_errors=True)
    parts.mkdir()
    vfat(parts / "esp-a.vfat", ESP_MB, "ESP-A", {"EFI/BOOT/BOOTX64.EFI": vd / "uki-a.efi"})
    vfat(parts / "esp-b.vfat", ESP_MB, "ESP-B", {})
    readme = parts / "README.TXT"
    readme.write_text((HERE / "provisioning-README.txt").read_text().replace("\n", "\r\n"))
    vfat(parts / "config.vfat", CONFIG_MB, "BDCONFIG", {"README.TXT": readme})
    defs = parts / "repart.d"
    defs.mkdir()
    table = [
        ("10-esp-a", "esp", "esp-a", ESP_MB, parts / "esp-a.vfat"),
        ("11-esp-b", "esp", "esp-b", ESP_MB, parts / "esp-b.vfat"),
        ("20-root-a", "root-x86-64", "root-a", ROOT_MB, vd / "root.erofs"),
        ("21-verity-a", "root-x86-64-verity", "verity-a", VERITY_MB, vd / "verity.img"),
        ("30-root-b", "root-x86-64", "root-b", ROOT_MB, None),
        ("31-verity-b", "root-x86-64-verity", "verity-b", VERITY_MB, None),
        ("40-config", "linux-generic", "config", CONFIG_MB, parts / "config.vfat"),
    ]
    for name, ptype, label, mb, blocks in table:
        text = f"[Partition]\nType={ptype}\nLabel={label}\nSizeMinBytes={mb}M\nSizeMaxBytes={mb}M\n"
        if blocks is not None:
            text += f"CopyBlocks={blocks}\n"
        (defs / f"{name}.conf").write_text(text)
    disk.unlink(missing_ok=True)
    run("systemd-repart", "--empty=create", "--size=auto", "--dry-run=no", "--no-pager",
        f"--seed={digest('bodydock-disk')[:8]}-0000-4000-8000-{digest('disk', version)[:12]}",
        f"--definitions={defs}", disk, stdout=subprocess.DEVNULL)
    shutil.rmtree(parts)
    info = json.loads((vd / "info.json").read_text())
    info["disk"] = disk.name
    info["disk_bytes"] = disk.stat().st_size
    (OUT / f"bodydock-{version}.json").write_text(json.dumps(info, indent=2) + "\n")
    return disk


# --- the RAUC bundle ---------------------------------------------------------------------------------------

def signing_material() -> tuple[Path, Path, Path]:
    """Key, certificate and keyring: from RAUC_KEY/RAUC_CERT/RAUC_KEYRING, else a development CA made here once."""
    env = [os.environ.get(k) for k in ("RAUC_KEY", "RAUC_CERT", "RAUC_KEYRING")]
    if all(env):
        return Path(env[0]), Path(env[1]), Path(env[2])  # type: ignore[arg-type]
    KEYS.mkdir(mode=0o700, exist_ok=True)
    ca_key, ca = KEYS / "ca.key.pem", KEYS / "ca.cert.pem"
    key, cert = KEYS / "signing.key.pem", KEYS / "signing.cert.pem"
    if not cert.exists():
        log("creating a development RAUC CA and signing key under image_build/keys/ (never shipped)")
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", ca_key, "-out", ca, "-days", "3650", "-subj", "/O=bodydock development/CN=bodydock dev CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign",
            stderr=subprocess.DEVNULL)
        csr = KEYS / "signing.csr"
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/O=bodydock development/CN=bodydock dev bundle signer",
            stderr=subprocess.DEVNULL)
        ext = KEYS / "signing.ext"
        ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n")
        run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "3650",
            "-extfile", ext, "-out", cert, stderr=subprocess.DEVNULL)
        for p in KEYS.iterdir():
            p.chmod(0o600)
    return key, cert, ca


def bundle(version: str, broken: bool = False) -> Path:
    vd = build_version(version, broken)
    dest = OUT / f"bodydock-{version}{'-broken' if broken else ''}.raucb"
    log(f"RAUC bundle {dest.name}")
    key, cert, ca = signing_material()
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        d = Path(tmp) / "content"
        d.mkdir()
        # RAUC picks the write method by file name: a raw slot takes *.img (written block for block).
        os.link(vd / "root.erofs", d / "root.img")
        os.link(vd / "verity.img", d / "verity.img")
        with tarfile.open(d / "uki.tar", "w") as tar:
            for slot in ("a", "b"):
                tar.add(vd / f"uki-{slot}.efi", arcname=f"uki-{slot}.efi")
        hook = d / "hook.sh"
        shutil.copy(HERE / "rootfs/usr/lib/bodydock/rauc-hook.sh", hook)
        hook.chmod(0o755)
        (d / "manifest.raucm").write_text(f"""[update]
compatible={COMPATIBLE}
version={version}
description=bodydock appliance {version}

[bundle]
format=verity

[hooks]
filename=hook.sh

[image.rootfs]
filename=root.img

[image.verity]
filename=verity.img

[image.efi]
filename=uki.tar
hooks=install
""")
        dest.unlink(missing_ok=True)
        run("rauc", "bundle", f"--cert={cert}", f"--key={key}", f"--keyring={ca}", d, dest,
            stdout=subprocess.DEVNULL)
    return dest


# --- a plain Debian of the same release, for the boot-time benchmark -----------------------------------

PLAIN_PACKAGES = ("linux-image-amd64", "systemd-sysv", "udev", "dracut", "zstd", "systemd-boot-efi",
                  "systemd-ukify", "python3-pefile")


def plain() -> Path:
    """A minimal trixie (minbase + kernel + systemd) booting an ext4 root to multi-user, same UKI path."""
    disk = OUT / "plain-debian.raw"
    key = digest(SUITE, *PLAIN_PACKAGES, "plain-2")
    stamp = OUT / "plain.stamp"
    if disk.exists() and stamp.exists() and stamp.read_text() == key:
        return disk
    t = OUT / "plain-tree"
    remove_tree(t)
    log("plain Debian for the benchmark (mmdebstrap minbase)")
    run("mmdebstrap", "--variant=minbase", "--include=" + ",".join(PLAIN_PACKAGES),
        "--setup-hook=mkdir -p \"$1\"/var/cache/apt/archives/",
        f"--setup-hook=sync-in {CACHE / 'apt'} /var/cache/apt/archives/",
        "--essential-hook=mkdir -p \"$1\"/etc/dracut.conf.d && "
        "echo 'hostonly=no' > \"$1\"/etc/dracut.conf.d/10-plain.conf",
        SUITE, t, debian_mirror(), stdout=subprocess.DEVNULL)
    (t / "etc/fstab").write_text("PARTLABEL=plain-root / ext4 rw 0 1\n")
    # The benchmark's "booted" line: systemd's own status lines stop once a getty holds the console.
    (t / "etc/systemd/system/boot-marker.service").write_text(
        "[Unit]\nAfter=multi-user.target\n[Service]\nType=oneshot\nStandardOutput=tty\nTTYPath=/dev/ttyS0\n"
        "ExecStart=/bin/echo plain: multi-user.target reached\n[Install]\nWantedBy=multi-user.target\n")
    (t / "etc/systemd/system/multi-user.target.wants").mkdir(parents=True, exist_ok=True)
    (t / "etc/systemd/system/multi-user.target.wants/boot-marker.service").symlink_to(
        "/etc/systemd/system/boot-marker.service")
    (t / "etc/hostname").write_text("plain\n")
    kver = sorted(p.name.removeprefix("vmlinuz-") for p in (t / "boot").glob("vmlinuz-*"))[-1]
    with tempfile.TemporaryDirectory(dir=t / "tmp") as tmp:
        inner = "/tmp/" + Path(tmp).name
        with chroot_mounts(t):
            in_tree(t, "ukify", "build", f"--linux=/boot/vmlinuz-{kver}", f"--initrd=/boot/initrd.img-{kver}",
                    "--cmdline=root=PARTLABEL=plain-root rw console=tty1 console=ttyS0,115200 "
                    "systemd.show_status=yes loglevel=4 systemd.gpt_auto=0",
                    f"--uname={kver}", f"--output={inner}/uki.efi", stdout=subprocess.DEVNULL)
        parts = OUT / "parts-plain"
        remove_tree(parts)
        parts.mkdir()
        vfat(parts / "esp.vfat", ESP_MB, "ESP", {"EFI/BOOT/BOOTX64.EFI": Path(tmp) / "uki.efi"})
    root = parts / "root.ext4"
    with root.open("wb") as fh:
        fh.truncate(2048 << 20)
    run("mkfs.ext4", "-q", "-L", "plain-root", "-d", t, root)
    defs = parts / "repart.d"
    defs.mkdir()
    (defs / "10-esp.conf").write_text(f"[Partition]\nType=esp\nLabel=esp\nCopyBlocks={parts / 'esp.vfat'}\n")
    (defs / "20-root.conf").write_text(f"[Partition]\nType=root-x86-64\nLabel=plain-root\nCopyBlocks={root}\n")
    disk.unlink(missing_ok=True)
    run("systemd-repart", "--empty=create", "--size=auto", "--dry-run=no", "--no-pager",
        f"--definitions={defs}", disk, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    remove_tree(parts)
    remove_tree(t)
    stamp.write_text(key)
    return disk


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=("base", "tree", "image", "bundle", "all", "plain"))
    ap.add_argument("--version", default=os.environ.get("IMAGE_VERSION", "1"), help="image version (default 1)")
    ap.add_argument("--bundle-version", default=None, help="with 'all': the update bundle's version")
    ap.add_argument("--broken-version", default=None,
                    help="with 'all': also a bundle of this version whose station fails (the rollback test's)")
    ap.add_argument("--broken", action="store_true", help="bundle: a release whose station fails (rollback tests)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("image_build: run as root (mmdebstrap, chroot and loop/overlay mounts)")
    OUT.mkdir(exist_ok=True)
    # One commit for every stage of this run, even if HEAD moves meanwhile (others commit while it builds).
    os.environ["BODYDOCK_SOURCE_REV"] = out_of("git", "-C", ROOT, "rev-parse",
                                               os.environ.get("BODYDOCK_SOURCE_REV", "HEAD"))
    if a.what == "base":
        print(base())
    elif a.what == "tree":
        print(tree())
    elif a.what == "image":
        print(image(a.version))
    elif a.what == "plain":
        print(plain())
    elif a.what == "bundle":
        print(bundle(a.version, a.broken))
    else:
        print(image(a.version))
        print(bundle(a.bundle_version or str(int(a.version) + 1)))
        if a.broken_version:
            print(bundle(a.broken_version, broken=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
