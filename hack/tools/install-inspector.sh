#!/usr/bin/env bash
# Installs the pinned MCP Inspector into a cache folder and prints the path of
# its launcher. It is kept out of package.json because one of its optional
# dependencies is not published, which makes `npm ci` refuse the lock file;
# `npm install` skips the missing optional package.
set -euo pipefail
version="2.12.0"
out="${CONDUCTOR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-conductor}/inspector/$version"
launcher="$out/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
if [[ ! -f "$launcher" ]]; then
  mkdir -p "$out"
  (cd "$out" && echo '{"name":"inspector-cache","private":true}' > package.json && \
    npm install --no-audit --no-fund --loglevel=error "@modelcontextprotocol/inspector@$version" >&2)
fi
echo "$launcher"
