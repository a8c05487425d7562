#!/usr/bin/env bash
# Real high-resolution photographs for looking at fills (bench/fullres.py --set folder --photos DIR/photos):
# the photographs among Debian's wallpaper packages (the rest are drawings and renders), at their largest
# size (2.5-6K). Downloaded from the Debian archive, never copied into the repository.
#   bash bench/wallpapers.sh /tmp/wallpapers      (then: bench/fullres.py --set folder --photos /tmp/wallpapers/photos)
set -euo pipefail
dir=${1:?usage: bash bench/wallpapers.sh DIR (a folder outside the repository)}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$dir" && dir=$(cd "$dir" && pwd)
case "$dir/" in "$root"/*) echo "bench/wallpapers.sh: $dir lies inside the repository; give a folder outside it" >&2; exit 2;; esac
# package: file (below usr/share) of each photograph
photos=(
  "lomiri-wallpapers-20.04:backgrounds/Infinite-Sea_by_Aury88.jpg"
  "lomiri-wallpapers-20.04:backgrounds/Kleiber_by_Lukas_Baubkus.jpg"
  "plasma-workspace-wallpapers:wallpapers/BytheWater/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/ColdRipple/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/ColorfulCups/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/DarkestHour/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/EveningGlow/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/FallenLeaf/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/Grey/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/Kite/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/OneStandsOut/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/Path/contents/images/2560x1600.jpg"
  "plasma-workspace-wallpapers:wallpapers/summer_1am/contents/images/2560x1600.jpg"
)
cd "$dir"
ls ./*.deb >/dev/null 2>&1 || apt-get download plasma-workspace-wallpapers lomiri-wallpapers-20.04  # ukui-wallpapers: drawings only
mkdir -p photos
for entry in "${photos[@]}"; do
  pkg=${entry%%:*} file=${entry#*:}
  deb=$(ls "$pkg"_*.deb)
  [ -d "x-$pkg" ] || dpkg-deb -x "$deb" "x-$pkg"
  name=$(echo "$file" | sed -E 's#wallpapers/([^/]+)/contents/images/.*(\.[a-z]+)$#\1\2#; s#backgrounds/##')
  cp "x-$pkg/usr/share/$file" "photos/$name"
done
ls photos
