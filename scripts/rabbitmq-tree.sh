#!/usr/bin/env bash
# Builds a RabbitMQ folder of one release line from Debian packages, unpacked and never
# installed: 4.0 (Erlang 27) from Debian 13 "trixie", 4.3 (Erlang 29) from Debian unstable
# "sid". The system's apt state is untouched: the packages are fetched with a private sources
# list, package lists, cache and status file. Prints the folder on stdout, and the RabbitMQ
# version it got on stderr (unstable moves: 4.3 may be any 4.3.x).
# The folder's own path is baked into its binaries, so it is built where it stays
# ($RABBITMQ_CACHE_DIR/rabbitmq-<line>, default <repo>/.cache, ignored by git) and rebuilt
# only when missing or moved.
# Usage: scripts/rabbitmq-tree.sh 4.0|4.3 [--force]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LINE=${1:-}
case "$LINE" in
  4.0) SUITE=trixie ;;
  4.3) SUITE=sid ;;
  *) echo "usage: $0 4.0|4.3 [--force]" >&2; exit 2 ;;
esac
shift
CACHE=${RABBITMQ_CACHE_DIR:-$ROOT/.cache}
DEST=$CACHE/rabbitmq-$LINE
TAG="rabbitmq-$LINE"

built() { [ -f "$DEST/.built-for" ] && [ "$(cat "$DEST/.built-for")" = "$DEST" ]; }
if [ "${1:-}" != "--force" ] && built; then
  echo "$DEST"
  exit 0
fi
# One build at a time (test workers may ask together); a waiter finds the folder built.
mkdir -p "$(dirname "$DEST")"
exec 9>"$DEST.lock"
flock 9
if [ "${1:-}" != "--force" ] && built; then
  echo "$DEST"
  exit 0
fi

# The system's Debian mirror (first "deb" URI not for security updates), else deb.debian.org.
mirror() {
  local uri
  uri=$( { cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '/^URIs:/ {for (i = 2; i <= NF; i++) print $i}';
           cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '$1 == "deb" {for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/) {print $i; break}}'; } \
         | grep -E '/debian/?$' | grep -v security | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}
MIRROR=$(mirror)

PACKAGES=(rabbitmq-server
  erlang-base erlang-asn1 erlang-crypto erlang-eldap erlang-inets erlang-mnesia erlang-os-mon
  erlang-parsetools erlang-public-key erlang-runtime-tools erlang-ssl erlang-syntax-tools
  erlang-tools erlang-xmerl
  libc6 libssl3t64 libzstd1 openssl-provider-legacy)

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/parts" "$WORK/debs" "$WORK/tools"
: > "$WORK/status"
# bookworm only for patchelf: Debian 12's build runs on this (Debian 12) machine's own libc.
cat > "$WORK/sources.list" <<LIST
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR $SUITE main
deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR bookworm main
LIST
APT=(-o "Dir::Etc::sourcelist=$WORK/sources.list" -o "Dir::Etc::sourceparts=$WORK/parts"
     -o "Dir::State::Lists=$WORK/lists" -o "Dir::Cache=$WORK/cache" -o "Dir::State::status=$WORK/status"
     -o "Dir::Etc::preferencesparts=$WORK/parts" -o "APT::Architecture=amd64" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")

echo "$TAG: fetching ${PACKAGES[*]} from $MIRROR $SUITE" >&2
apt-get "${APT[@]}" -qq update >&2
( cd "$WORK/debs" && apt-get "${APT[@]}" -qq download "${PACKAGES[@]/%//$SUITE}" >&2 )
( cd "$WORK/tools" && apt-get "${APT[@]}" -qq download patchelf/bookworm >&2 && dpkg -x patchelf_*.deb . )
PATCHELF="$WORK/tools/usr/bin/patchelf"

rm -rf "$DEST"
mkdir -p "$DEST"
for deb in "$WORK"/debs/*.deb; do dpkg -x "$deb" "$DEST"; done

LOADER=$(find "$DEST/usr/lib/x86_64-linux-gnu" "$DEST/lib/x86_64-linux-gnu" "$DEST/usr/lib64" "$DEST/lib64" \
  -name 'ld-linux-x86-64.so.2' 2>/dev/null | head -n1 || true)
[ -n "$LOADER" ] || { echo "$TAG: no ld-linux-x86-64.so.2 in $SUITE's libc6" >&2; exit 1; }
LIBDIRS="$DEST/usr/lib/x86_64-linux-gnu:$DEST/lib/x86_64-linux-gnu"

# Every ELF file of Erlang: the suite's loader and libraries, not the system's (glibc 2.36 is too old).
is_elf() { [ "$(head -c4 "$1" | od -An -c | tr -d ' ')" = "177ELF" ]; }
while IFS= read -r -d '' f; do
  is_elf "$f" || continue
  if "$PATCHELF" --print-interpreter "$f" >/dev/null 2>&1; then
    "$PATCHELF" --set-interpreter "$LOADER" "$f"
  fi
  "$PATCHELF" --force-rpath --set-rpath "$LIBDIRS" "$f"
done < <(find "$DEST/usr/lib/erlang" -type f -print0)

# The start scripts hard-code their root.
grep -rlI 'ROOTDIR=/usr/lib/erlang' "$DEST/usr/lib/erlang/bin" "$DEST"/usr/lib/erlang/erts-*/bin \
  | xargs sed -i "s#ROOTDIR=/usr/lib/erlang#ROOTDIR=$DEST/usr/lib/erlang#"

"$DEST/usr/lib/erlang/bin/erl" -noshell -eval 'io:format(standard_error, "rabbitmq-tree: Erlang/OTP ~s~n", [erlang:system_info(otp_release)]), crypto:start(), halt().' >&2
VERSION=$(ls "$DEST/usr/lib/rabbitmq/lib" | sed -n 's/^rabbitmq_server-//p' | head -n1)
case "$VERSION" in
  "$LINE".*) echo "$TAG: RabbitMQ $VERSION" >&2 ;;
  *) echo "$TAG: expected a RabbitMQ $LINE.x from $SUITE, got '${VERSION:-nothing}'" >&2; exit 1 ;;
esac
echo "$DEST" > "$DEST/.built-for"
echo "$DEST"
