"""`make invoke FN=<LogicalId> EVENT=<file>`: run one function of the running stack with an event file."""

import argparse
import json
import sys
from pathlib import Path

from devstack.launcher import running_stack
from devstack.template import ROOT
from stacktools.client import StackClient


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("function", help="logical id in template.yaml, e.g. HealthFunction")
    parser.add_argument("event", type=Path, help="event file, e.g. events/api-health.json")
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    args = parser.parse_args()
    stack = running_stack(args.state_dir)
    if stack is None:
        sys.exit(f"no local stack is running ({args.state_dir}/stack.json is missing): start it with `make local`")
    answer = StackClient(stack.description).invoke(args.function, args.event.read_bytes())
    if not answer.ok:
        sys.exit(f"cannot invoke {args.function}: {answer.text}")
    result = answer.json()
    print(json.dumps(result["payload"], indent=2))
    print(f"({'ok' if result['ok'] else 'function error'}, {result['duration_ms']} ms)", file=sys.stderr)
    sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
