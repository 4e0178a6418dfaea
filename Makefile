# The two commands that matter: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the demo and the tests use; installed only when missing.
DEB_PACKAGES := ffmpeg age sqlite3
# Camera detection and adapters: card images (mkfs, mtools, fsck), reference exFAT reader for
# cross-checks, umockdev for the udev tests and what PyGObject needs to build.
DEB_PACKAGES += dosfstools mtools exfatprogs exfat-fuse fusefat umockdev gir1.2-umockdev-1.0 \
	libgirepository1.0-dev libcairo2-dev pkg-config gcc
# SFTP upload tests and benchmark: a real sshd, network namespaces with tbf shaping and nftables
# loss, a loop-mounted ext4 image for the vault-full fault.
DEB_PACKAGES += openssh-server openssh-client openssh-sftp-server iproute2 nftables e2fsprogs
# S3 vault tests and benchmark: a real single-node Ceph cluster (mon, mgr, memstore OSD, radosgw);
# faketime runs a dock with its clock skewed past the S3 signature window.
DEB_PACKAGES += ceph-mon ceph-mgr ceph-osd radosgw ceph-common faketime
# Dock health and the vault portal: their pages in headless Chromium (l10n: the Dutch date fields); bench/portal.py: curl.
DEB_PACKAGES += chromium chromium-l10n curl
# Badge reader: python-evdev builds against the kernel's input headers (and needs gcc, above).
DEB_PACKAGES += linux-libc-dev python3-dev
# Kiosk (Kivy): GL (Mesa; llvmpipe under Xvfb), touchscreen input (mtdev), the DejaVu font, Xvfb
# for the widget tests, screenshots and frame benchmark, GNU gettext for the catalogs.
DEB_PACKAGES += libgl1 libgl1-mesa-dri libegl1 libmtdev1 fonts-dejavu-core xvfb xauth gettext
# Tests must pass on a busy machine: stress-ng supplies the CPU hogs to prove it (docs in issue 12).
DEB_PACKAGES += stress-ng
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck deps debs catalogs clean locale screenshots cctv-age-vectors

# With a display the demo opens the kiosk on the simulated dock; without one it runs headless.
demo: deps
	if [ -n "$$DISPLAY" ]; then $(BIN)/bodydock demo --kiosk; else $(BIN)/bodydock demo; fi

test: deps cctv-age-vectors
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: deps
	$(BIN)/ruff check .

typecheck: deps
	$(BIN)/mypy

deps: debs catalogs $(VENV)/.installed

# The kiosk's compiled catalogs are made from the committed .po files, never committed themselves.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard ui/locale/*/LC_MESSAGES/*.po))
catalogs: $(MO_FILES)
$(MO_FILES): %.mo: %.po | debs
	msgfmt --check -o $@ $<

debs:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python >= 3.11 is required"'
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The C2SP/CCTV age test vectors (npm package cctv-age), for the vault's age decryption tests.
# Fetched with npm pack and checked against the integrity hash pinned here before unpacking.
CCTV_AGE := cctv-age@0.2.0
CCTV_AGE_INTEGRITY := sha512-1fiGAaWr+snqgu8+uCC7qPeApAuueOESET2npKe0FVLY+Huf+Kkia89Rybx/uoGNCml31SgAjiQIeFOY4K3New==
CCTV_AGE_DIR := .cache/cctv-age
cctv-age-vectors: $(CCTV_AGE_DIR)/package/index.js

$(CCTV_AGE_DIR)/package/index.js:
	rm -rf $(CCTV_AGE_DIR) && mkdir -p $(CCTV_AGE_DIR)
	cd $(CCTV_AGE_DIR) && npm pack --silent $(CCTV_AGE) >/dev/null
	got="sha512-$$(openssl dgst -sha512 -binary $(CCTV_AGE_DIR)/cctv-age-0.2.0.tgz | base64 -w0)"; \
	if [ "$$got" != "$(CCTV_AGE_INTEGRITY)" ]; then \
	  echo "cctv-age: integrity mismatch: $$got" >&2; rm -rf $(CCTV_AGE_DIR); exit 1; fi
	tar -xzf $(CCTV_AGE_DIR)/cctv-age-0.2.0.tgz -C $(CCTV_AGE_DIR)

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache

# Kiosk catalogs: extract the marked strings, merge them into each language, compile (.po committed, .mo made).
XGETTEXT := xgettext -L Python --from-code=UTF-8 --keyword=t --keyword=n:1,2 --keyword=p:1c,2 --keyword=N_ \
	--no-wrap --sort-output --add-location=file --package-name=bodydock --msgid-bugs-address=none
locale: debs
	$(XGETTEXT) -o ui/locale/bodydock.pot $$(find ui -name '*.py' | sort)
	for l in nl en; do \
	  msgmerge -q --update --backup=none --no-wrap --no-fuzzy-matching ui/locale/$$l/LC_MESSAGES/bodydock.po ui/locale/bodydock.pot; \
	  msgattrib --no-obsolete --no-wrap -o ui/locale/$$l/LC_MESSAGES/bodydock.po ui/locale/$$l/LC_MESSAGES/bodydock.po; \
	  msgfmt --check -o ui/locale/$$l/LC_MESSAGES/bodydock.mo ui/locale/$$l/LC_MESSAGES/bodydock.po; \
	done

# Screenshots of every kiosk screen (Dutch; 800x480 and 1280x800) into docs/screenshots/.
screenshots: deps
	$(BIN)/python -m kiosk_lab.screenshots --out docs/screenshots

# The appliance image (image_build/README.md): Debian 13 built with mmdebstrap, an erofs root on
# dm-verity, UKIs, systemd-repart for the disk, RAUC bundles. Outputs in image_build/out/ (gitignored).
IMAGE_DEB_PACKAGES := mmdebstrap erofs-utils cryptsetup-bin rauc squashfs-tools dosfstools mtools openssl e2fsprogs \
	git binutils
# Booting it: qemu (TCG), UEFI firmware, a software TPM; age and ffmpeg for the test's vault and card.
IMAGE_DEB_PACKAGES += qemu-system-x86 qemu-utils ovmf swtpm swtpm-tools age ffmpeg openssh-server
image-debs:
	@missing=""; for p in $(IMAGE_DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

image: deps image-debs
	$(SUDO) $(PYTHON) image_build/build.py all --version 1 --bundle-version 2 --broken-version 3

# Boots the image in qemu: first boot, kiosk, camera hot-plug to an SFTP vault, update, rollback.
# Stages by name: make image-test IMAGE_TEST_ARGS="-k 'ready or kiosk'" (the update stages need the ones before).
image-test: image
	$(SUDO) env BODYDOCK_IMAGE_TEST=1 $(BIN)/pytest -q -s -p no:cacheprovider --timeout 3600 tests/image_build \
	  $(IMAGE_TEST_ARGS)
