#!/usr/bin/env bash
# Prints the directory of a python3.12 interpreter (the Lambda runtime's version), which
# `sam build` needs on PATH when it builds without Docker. Exits 1 saying what is missing.
set -euo pipefail
for candidate in "$(command -v python3.12 2>/dev/null || true)" \
                 "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/3.12*/bin/python3.12 \
                 /usr/local/bin/python3.12 /usr/bin/python3.12; do
  if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    dirname "$candidate"
    exit 0
  fi
done
cat >&2 <<'MSG'
sam build needs a Python 3.12 interpreter (the Lambda runtime is python3.12) and none was found:
not on PATH, not under pyenv, not in /usr/local/bin or /usr/bin.
Install one (for example `pyenv install 3.12` or your distribution's python3.12 package) and retry.
MSG
exit 1
