# The two commands that matter: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the demo and the tests use; installed only when missing.
DEB_PACKAGES := ffmpeg age sqlite3
# Camera detection and adapters: card images (mkfs, mtools, fsck), reference exFAT reader for
# cross-checks, umockdev for the udev tests and what PyGObject needs to build.
DEB_PACKAGES += dosfstools mtools exfatprogs exfat-fuse umockdev gir1.2-umockdev-1.0 \
	libgirepository1.0-dev libcairo2-dev pkg-config gcc
# SFTP upload tests and benchmark: a real sshd, network namespaces with tbf shaping and nftables
# loss, a loop-mounted ext4 image for the vault-full fault.
DEB_PACKAGES += openssh-server openssh-client openssh-sftp-server iproute2 nftables e2fsprogs
# Dock health: the status page screenshot test renders it in headless Chromium.
DEB_PACKAGES += chromium
# Badge reader: python-evdev builds against the kernel's input headers (and needs gcc, above).
DEB_PACKAGES += linux-libc-dev python3-dev
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint typecheck deps debs clean

demo: deps
	$(BIN)/bodydock demo

test: deps
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: deps
	$(BIN)/ruff check .

typecheck: deps
	$(BIN)/mypy

deps: debs $(VENV)/.installed

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

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
