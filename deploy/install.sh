#!/usr/bin/env bash
# Install pausewatch on a Linux host with systemd: the commands, the units, /etc/pausewatch.
# Run as root from a checkout (or an unpacked sdist):
#   bash deploy/install.sh              # everything below
#   DESTDIR=/tmp/stage bash deploy/install.sh   # the same into a staging root (packaging, tests)
#   VENV=/opt/pausewatch bash deploy/install.sh # reuse an existing virtualenv with pausewatch in it
# Then follow deploy/README.md: keys, configs, `systemctl enable --now`.
set -euo pipefail
SRC="$(cd "$(dirname "$0")/.." && pwd)"
DESTDIR="${DESTDIR:-}"
PREFIX="${PREFIX:-/opt/pausewatch}"
BINDIR="${BINDIR:-/usr/local/bin}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
ETC="${ETC:-/etc/pausewatch}"
PYTHON="${PYTHON:-python3}"

if [ -n "${VENV:-}" ]; then
  venv="$VENV"                          # an existing environment: not touched
else
  venv="$PREFIX"
  if [ ! -x "$DESTDIR$venv/bin/python" ]; then
    "$PYTHON" -m venv "$DESTDIR$venv"
  fi
  "$DESTDIR$venv/bin/python" -m pip install --quiet --upgrade "$SRC"
fi
here="$DESTDIR$venv"
[ -n "${VENV:-}" ] && here="$venv"      # an existing environment lives outside DESTDIR
for tool in pausewatch-verifier pausewatch-attestor pausewatch-audit; do
  test -x "$here/bin/$tool" || {
    echo "install.sh: $here/bin/$tool is missing: is pausewatch installed there?" >&2; exit 2; }
done

install -d -m 0755 "$DESTDIR$BINDIR" "$DESTDIR$UNITDIR"
for tool in pausewatch-verifier pausewatch-attestor pausewatch-audit pausewatch-witness; do
  if [ -x "$here/bin/$tool" ]; then ln -sfn "$venv/bin/$tool" "$DESTDIR$BINDIR/$tool"; fi
done
for unit in "$SRC"/deploy/pausewatch-*.service; do
  install -m 0644 "$unit" "$DESTDIR$UNITDIR/"
done
# Keys stay root's (0600): systemd hands them to the verifier as credentials (LoadCredential=).
install -d -m 0755 "$DESTDIR$ETC"
install -d -m 0700 "$DESTDIR$ETC/keys"
install -d -m 0755 "$DESTDIR$ETC/tls"
if [ ! -e "$DESTDIR$ETC/verifier.toml.example" ]; then
  install -m 0644 "$SRC/deploy/verifier.example.toml" "$DESTDIR$ETC/verifier.toml.example"
fi
if [ -z "$DESTDIR" ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "installed: $BINDIR/pausewatch-{verifier,attestor,audit} -> $venv; units in $UNITDIR; config dir $ETC"
echo "next: deploy/README.md (keys in $ETC/keys, $ETC/verifier.toml or $ETC/attestor.toml, systemctl enable --now)"
