# shellcheck shell=bash
# Sourced with REPO set: TARGET_DIR is the workspace's cargo target folder, $CARGO_TARGET_DIR
# (relative to the repository when relative) or <repo>/target.
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$REPO/$TARGET_DIR" ;; esac
