#!/usr/bin/env bash
# Prints where the running stack answers and how to sign in to it.
set -euo pipefail
env_file=${1:-.env}
get() { grep "^$1=" "$env_file" | tail -n1 | cut -d= -f2- || true; }
port=$(get PORT); port=${port:-8018}
public=$(get PUBLIC_URL); url=${public:-http://127.0.0.1:${port}}
if [[ $(get AUTH_MODE) == github ]]; then
  cat <<MSG

AI Data Scientist is up at ${url}
  sign in:  open ${url} in a browser
  for curl: open ${url}/login/github in a browser; it shows the github_session value
MSG
  exit 0
fi
token=$(get LOCAL_AUTH_TOKEN)
cat <<MSG

AI Data Scientist is up at ${url}
  sign in:  ${url}/login/local?token=${token}&next=/
  curl:     curl ${url}/chats -H "Cookie: github_session=${token}"
MSG
