"""Asynchronous invocation through boto3: an Event invoke, the event invoke config operations
and their errors. Arguments: the function to invoke, and the ARN of a second function for
the destination. Prints the Event invoke's request id."""
import json
import os
import sys

import boto3
import botocore.exceptions

name, dest = sys.argv[1], sys.argv[2]
client = boto3.client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"])

out = client.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"action": "hello", "name": "boto3"}))
assert out["StatusCode"] == 202, out
assert out["Payload"].read() == b"", out

put = client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0,
                                              DestinationConfig={"OnFailure": {"Destination": dest}})
assert put["MaximumRetryAttempts"] == 0 and put["DestinationConfig"]["OnFailure"]["Destination"] == dest, put
assert put["FunctionArn"].endswith(":function:" + name + ":$LATEST"), put
got = client.get_function_event_invoke_config(FunctionName=name)
assert got["LastModified"].year >= 2024, got  # a timestamp botocore parsed
assert len(client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]) == 1

try:
    client.update_function_event_invoke_config(FunctionName=name, MaximumEventAgeInSeconds=99999)
    raise SystemExit("an event age of 99999 was accepted")
except botocore.exceptions.ClientError as e:
    err = e.response["Error"]
    assert err["Code"] == "ValidationException", err
    assert "Member must have value less than or equal to 21600" in err["Message"], err

client.delete_function_event_invoke_config(FunctionName=name)
try:
    client.get_function_event_invoke_config(FunctionName=name)
    raise SystemExit("a deleted config was found")
except client.exceptions.ResourceNotFoundException as e:
    assert "doesn't have an EventInvokeConfig" in e.response["Error"]["Message"], e.response

print(out["ResponseMetadata"]["RequestId"])
