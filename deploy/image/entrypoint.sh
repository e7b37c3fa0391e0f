#!/bin/sh
# The image's entry point: exports each secret file named like a variable (Compose mounts the secret
# `rls-referral-store-cipher-key` as /run/secrets/REFERRAL_CIPHER_KEY), then runs `rls` with the arguments.
# Files named otherwise (the Kafka CA, a token file) stay files; nothing is printed. Kubernetes passes secrets as
# variables directly, so there the directory is usually absent.
set -eu
secrets_dir="${RLS_SECRETS_DIR:-/run/secrets}"
if [ -d "$secrets_dir" ]; then
  for file in "$secrets_dir"/*; do
    [ -f "$file" ] || continue
    name="${file##*/}"
    case "$name" in
      [!A-Z]* | *[!A-Z0-9_]*) continue ;;
    esac
    value="$(cat "$file")"
    export "$name=$value"
  done
fi
exec rls "$@"
