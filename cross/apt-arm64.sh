# arm64 Debian packages without touching the host's dpkg: a private APT configuration with
# its own state, lists and cache (installing arm64 packages into the host would replace its
# amd64 GStreamer). Source it after lib.sh.
# shellcheck shell=bash

APT_ARM64=$CACHE/apt-arm64

# apt_arm64_init: write the configuration and fetch the package lists (once a day).
apt_arm64_init() {
  local a=$APT_ARM64
  mkdir -p "$a"/state/lists/partial "$a"/cache/archives/partial \
    "$a"/etc/sources.list.d "$a"/etc/preferences.d "$a"/etc/apt.conf.d
  [ -f "$a/state/status" ] || : > "$a/state/status"
  # The host's own Debian mirrors and suites, for arm64.
  local sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || die "no $sources: the arm64 sysroot needs a Debian 12 host"
  awk '/^URIs:/{u=$2} /^Suites:/{for(i=2;i<=NF;i++) print "deb [arch=arm64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] " u " " $i " main"}' \
    "$sources" > "$a/etc/sources.list"
  cat > "$a/apt.conf" <<EOF
APT::Architecture "arm64"; APT::Architectures { "arm64"; };
Dir::State "$a/state"; Dir::State::status "$a/state/status"; Dir::Cache "$a/cache";
Dir::Etc "$a/etc"; Dir::Etc::SourceList "$a/etc/sources.list"; Dir::Etc::SourceParts "$a/etc/sources.list.d";
Dir::Etc::Parts "$a/etc/apt.conf.d"; Dir::Etc::PreferencesParts "$a/etc/preferences.d";
Acquire::Languages "none"; APT::Sandbox::User "root";
EOF
  if [ -z "$(find "$a/state/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
    say "fetching the arm64 package lists"
    APT_CONFIG=$a/apt.conf apt-get update -qq
  fi
}

# apt_arm64_closure PACKAGES...: the packages (name=version) an install of PACKAGES brings.
apt_arm64_closure() {
  APT_CONFIG=$APT_ARM64/apt.conf apt-get install -s --no-install-recommends "$@" |
    awk '/^Inst /{v=$3; gsub(/[()]/, "", v); print $2 "=" v}' | sort
}

# apt_arm64_unpack DEST PACKAGES(name=version)...: download each and unpack it into DEST.
apt_arm64_unpack() {
  local dest=$1
  shift
  local debs=$CACHE/debs-arm64
  mkdir -p "$debs" "$dest"
  (cd "$debs" && APT_CONFIG=$APT_ARM64/apt.conf apt-get download -qq "$@" >/dev/null)
  local p name ver
  for p in "$@"; do
    name=${p%%=*}
    ver=${p#*=}
    # The file name has the version with `:` escaped, and `arm64` or `all`.
    local deb
    deb=$(ls "$debs/${name}_${ver//:/%3a}"_*.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || die "$name $ver was not downloaded"
    dpkg -x "$deb" "$dest"
  done
}
