#!/usr/bin/env bash
# Installs the benchmark's peer, webdis in front of Redis (Debian's packages), when either is
# missing. It never fails the benchmark: without them, `npm run bench` says so and measures the
# other servers.
set -u
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v webdis >/dev/null 2>&1 || missing+=(webdis)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "bench: ${missing[*]} missing and no apt-get here; install them to compare against webdis + Redis"
  exit 0
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then sudo=(sudo -n); fi
echo "bench: installing ${missing[*]} (Debian packages) for the webdis + Redis peer"
export DEBIAN_FRONTEND=noninteractive
if ! { "${sudo[@]}" apt-get update -qq &&
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "bench: could not install ${missing[*]}; the webdis + Redis peer will be skipped"
  exit 0
fi
# The packages start their own services on the default ports; the benchmark starts its own
# instances on free ports, so those would only take CPU from the measurement.
for service in webdis redis-server; do
  "${sudo[@]}" service "$service" stop >/dev/null 2>&1 || true
done
exit 0
