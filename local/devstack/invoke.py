"""`make invoke FN=<LogicalId> EVENT=<file>`: run one function of the running stack with an event file."""

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from devstack.launcher import running_stack
from devstack.template import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("function", help="logical id in template.yaml, e.g. HealthFunction")
    parser.add_argument("event", type=Path, help="event file, e.g. events/api-health.json")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    args = parser.parse_args()
    stack = running_stack(args.state_dir)
    if stack is None:
        sys.exit(f"no local stack is running ({args.state_dir}/stack.json is missing): start it with `make local`")
    request = urllib.request.Request(  # noqa: S310 - the stack's own loopback URL
        f"{stack.description['control_url']}/invoke/{args.function}",
        data=args.event.read_bytes(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=960) as answer:  # noqa: S310 - loopback
            result = json.load(answer)
    except urllib.error.HTTPError as error:
        sys.exit(f"cannot invoke {args.function}: {error.read().decode()}")
    print(json.dumps(result["payload"], indent=2))
    print(f"({'ok' if result['ok'] else 'function error'}, {result['duration_ms']} ms)", file=sys.stderr)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
