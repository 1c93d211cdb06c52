#!/usr/bin/env bash
# Creates the compose env file on first `make up`: a stable local login token (so the printed link
# keeps working across restarts) and an absolute DATA_DIR. Never overwrites what is there.
set -euo pipefail
env_file=${1:-.env}
touch "$env_file"
chmod 600 "$env_file"
if ! grep -q '^LOCAL_AUTH_TOKEN=' "$env_file"; then
  echo "LOCAL_AUTH_TOKEN=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')" >> "$env_file"
  echo "env-file: generated LOCAL_AUTH_TOKEN in $env_file"
fi
if ! grep -q '^DATA_DIR=' "$env_file"; then
  echo "DATA_DIR=/var/lib/ai-data-scientist" >> "$env_file"
fi
data_dir=$(grep '^DATA_DIR=' "$env_file" | tail -n1 | cut -d= -f2-)
mkdir -p "$data_dir"
