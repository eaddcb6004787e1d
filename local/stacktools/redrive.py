"""`make redrive QUEUE=<DLQ logical id> [STACK=<stack name>]`: move a DLQ's messages back to their queue.

Against a deployed stack (STACK given) this starts an SQS message move task, which returns each
message to the queue it came from. Against the running local stack (no STACK), where moto has
no move tasks, it does what a move task does: receive, send to the source queue, delete.
"""

import argparse

import boto3

from devstack.launcher import running_stack
from devstack.template import ROOT, load_template
from stacktools.client import StackClient


def source_queue_of(dlq: str) -> str:
    """The queue whose redrive policy names `dlq` (template.yaml)."""
    for logical_id, resource in load_template()["Resources"].items():
        policy = (resource.get("Properties") or {}).get("RedrivePolicy") or {}
        target = policy.get("deadLetterTargetArn", {}).get("Fn::GetAtt", [""])[0]
        if resource["Type"] == "AWS::SQS::Queue" and target == dlq:
            return str(logical_id)
    raise SystemExit(f"{dlq} is no queue's DLQ in template.yaml (AlarmRouterDLQ is replayed, see RELIABILITY.md)")


def redrive_deployed(stack_name: str, dlq: str) -> None:
    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"][0].get("Outputs", [])
    url = next((o["OutputValue"] for o in outputs if o["OutputKey"] == f"{dlq}Url"), None)
    if url is None:
        raise SystemExit(f"stack {stack_name} has no output {dlq}Url")
    sqs = boto3.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    task = sqs.start_message_move_task(SourceArn=arn)
    print(f"move task {task['TaskHandle']} started for {dlq}")
    print(f"progress: aws sqs list-message-move-tasks --source-arn {arn}")


def redrive_local(dlq: str) -> None:
    stack = running_stack(ROOT / ".local")
    if stack is None:
        raise SystemExit("no local stack is running: start it with `make local`, or give STACK=<deployed stack>")
    sqs = StackClient(stack.description).aws("sqs")
    source = stack.resources[source_queue_of(dlq)]
    moved = 0
    while messages := sqs.receive_message(
        QueueUrl=stack.resources[dlq], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    ).get("Messages", []):
        for message in messages:
            sqs.send_message(
                QueueUrl=source, MessageBody=message["Body"], MessageAttributes=message.get("MessageAttributes", {})
            )
            sqs.delete_message(QueueUrl=stack.resources[dlq], ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    print(f"moved {moved} message(s) from {dlq} back to {source_queue_of(dlq)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("queue", help="DLQ logical id: IngestDLQ or ClipDLQ")
    parser.add_argument("--stack-name", help="deployed stack; without it, the running local stack")
    args = parser.parse_args()
    if args.stack_name:
        redrive_deployed(args.stack_name, args.queue)
    else:
        redrive_local(args.queue)


if __name__ == "__main__":
    main()
