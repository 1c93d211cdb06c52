#!/usr/bin/env bash
# Prints where the running stack answers and how to sign in to it.
set -euo pipefail
env_file=${1:-.env}
get() { grep "^$1=" "$env_file" | tail -n1 | cut -d= -f2- || true; }
port=$(get PORT); port=${port:-8018}
public=$(get PUBLIC_URL); url=${public:-http://127.0.0.1:${port}}
# As gateway/settings.py decides: GitHub sign-in when AUTH_MODE says so, or when it is unset and a
# GitHub client is configured.
auth_mode=$(get AUTH_MODE)
if [[ -z $auth_mode && -n $(get GITHUB_CLIENT_ID) ]]; then auth_mode=github; fi
if [[ $auth_mode == github ]]; then
  cat <<MSG

AI Data Scientist is up at ${url}
  sign in:  open ${url} in a browser
  for curl: open ${url}/login/github in a browser; it shows the github_session value
MSG
  exit 0
fi
# The link trades the token for a session cookie; curl sends the token itself as a Bearer token
# (the token is never a cookie).
token=$(get LOCAL_AUTH_TOKEN)
cat <<MSG

AI Data Scientist is up at ${url}
  sign in:  ${url}/login/local?token=${token}&next=/
  curl:     curl ${url}/chats -H "Authorization: Bearer ${token}"
MSG
