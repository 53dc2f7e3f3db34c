#!/bin/sh
# Debian packages some tests read: the corpus generator's real-speech and TTS sources (tests/test_corpus.py) and
# espeak-ng speech for the metric tests. As root with apt-get, install the missing ones; otherwise say which are
# missing: the tests that need them are then skipped, each naming its package. Never fails the command.
PACKAGES="espeak-ng asterisk-core-sounds-en-g722 asterisk-core-sounds-fr-g722"

missing=""
for package in $PACKAGES; do
  if ! dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing="$missing $package"
  fi
done
missing=${missing# }
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages for the tests: $missing"
  if DEBIAN_FRONTEND=noninteractive apt-get update -qq \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
    exit 0
  fi
  echo "warning: apt-get could not install $missing; the tests that need them will be skipped" >&2
else
  echo "note: system packages not installed: $missing (install as root: apt-get install $missing);" \
       "the tests that need them will be skipped" >&2
fi
exit 0
