#!/bin/sh
# Entrypoint of the timed container image (packaging/container/Containerfile).
#
# Starts `timed --config $TIMED_CONFIG --data-dir $TIMED_DATA_DIR [ARGS]`
# (exec: timed is PID 1 and gets SIGTERM), but first refuses to start:
#   exit 4  when the data dir is not a mounted volume, or is the anonymous
#           volume podman and docker make for the image's VOLUME when none is
#           given (removed with the container by --rm): the chain, the
#           node's votes and locks would be lost with the container. Mount a
#           named volume or a host directory (-v timed-data:/var/lib/timed),
#           or set TIMED_ALLOW_EPHEMERAL=1 for a throwaway node;
#   exit 3  when the config file is missing, `timed --check-config` finds a
#           problem in it, or a file it names (genesis, masternode key)
#           is missing.
# The codes are timed's own (3: configuration, 4: data dir).
# ARGS starting with --generate-config, --check-config, --man, --version or
# --help run timed directly: `podman run --rm IMAGE --generate-config`.
#
# Environment (the defaults are the image's paths; tests point them at temp
# dirs):
#   TIMED_CONFIG           /etc/timed/timed.toml
#   TIMED_DATA_DIR         /var/lib/timed
#   TIMED_BIN              /usr/local/bin/timed
#   TIMED_MOUNTINFO        /proc/self/mountinfo (where the mounts are read)
#   TIMED_ALLOW_EPHEMERAL  1: start even without a volume at TIMED_DATA_DIR
set -eu

config=${TIMED_CONFIG:-/etc/timed/timed.toml}
data_dir=${TIMED_DATA_DIR:-/var/lib/timed}
timed=${TIMED_BIN:-/usr/local/bin/timed}
mountinfo=${TIMED_MOUNTINFO:-/proc/self/mountinfo}

refuse() {
    code=$1
    shift
    printf 'timed-entrypoint: refusing to start: %s\n' "$*" >&2
    exit "$code"
}

case "${1:-}" in
    --generate-config | --check-config | --man | --version | -V | --help | -h)
        exec "$timed" "$@"
        ;;
esac

if [ "${TIMED_ALLOW_EPHEMERAL:-0}" != 1 ]; then
    mount_it="mount a named volume or a host directory there (e.g. -v timed-data:$data_dir), or set TIMED_ALLOW_EPHEMERAL=1 for a throwaway node"
    dir=$(readlink -f "$data_dir" 2>/dev/null || printf '%s' "$data_dir")
    # mountinfo: field 5 is a mount point, field 4 what of its filesystem is
    # mounted there (the last mount on a point is the one in effect).
    root=$(awk -v dir="$dir" '$5 == dir { root = $4 } END { print root }' "$mountinfo" 2>/dev/null || true)
    if [ -z "$root" ]; then
        refuse 4 "the data dir $data_dir is not a mounted volume, so the chain and the node's votes would be lost with the container: $mount_it"
    fi
    # podman and docker keep volumes in .../volumes/NAME/_data; an anonymous
    # one (made for the image's VOLUME) is named by 64 hex digits.
    if printf '%s\n' "$root" | grep -Eq '/volumes/[0-9a-f]{64}/_data$'; then
        refuse 4 "the data dir $data_dir is an anonymous volume (made for the image's VOLUME because none was given), removed with the container by --rm: $mount_it"
    fi
fi

if [ ! -f "$config" ]; then
    refuse 3 "no config file at $config: mount a directory with timed.toml and the genesis and key files it names (timed --generate-config makes one)"
fi

# Syntax, every key and value, and the files the config names; a missing
# genesis or key file is only a warning there (exit 0), an error here.
if ! checked=$("$timed" --check-config "$config" 2>&1); then
    refuse 3 "timed --check-config $config failed:
$checked"
fi
missing=$(printf '%s\n' "$checked" | grep 'does not exist' || true)
if [ -n "$missing" ]; then
    refuse 3 "a file the config names is missing:
$missing"
fi

exec "$timed" --config "$config" --data-dir "$data_dir" "$@"
