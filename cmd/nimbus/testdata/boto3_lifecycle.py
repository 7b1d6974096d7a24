"""Drives a function's lifecycle through boto3, configured only by `nimbus env`'s variables.

Arguments: the Python runtime name, and "invoke" when functions can run here."""
import base64
import io
import json
import os
import sys
import zipfile

import boto3
import botocore.config
import botocore.exceptions

runtime = sys.argv[1]
run_invokes = len(sys.argv) > 2 and sys.argv[2] == "invoke"
# boto3 before 1.28 (Debian 12 ships 1.26) ignores AWS_ENDPOINT_URL, so pass it on.
client = boto3.client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"])

buf = io.BytesIO()
with zipfile.ZipFile(buf, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    print('boto3 says', event['n'])\n    return {'double': event['n'] * 2}\n")
code = buf.getvalue()

created = client.create_function(FunctionName="boto-fn", Runtime=runtime, Handler="app.handler",
                                 Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": code})
assert created["State"] == "Pending", created
client.get_waiter("function_active_v2").wait(FunctionName="boto-fn", WaiterConfig={"Delay": 1})
fn = client.get_function(FunctionName="boto-fn")
assert fn["Configuration"]["State"] == "Active", fn
assert fn["Configuration"]["CodeSize"] == len(code)

try:
    client.update_function_configuration(FunctionName="boto-fn", MemorySize=256, RevisionId="stale")
    raise AssertionError("a stale RevisionId was accepted")
except client.exceptions.PreconditionFailedException:
    pass
client.update_function_configuration(FunctionName="boto-fn", MemorySize=256)
client.get_waiter("function_updated_v2").wait(FunctionName="boto-fn", WaiterConfig={"Delay": 1})

names = [f["FunctionName"] for page in client.get_paginator("list_functions").paginate() for f in page["Functions"]]
assert "boto-fn" in names, names

if run_invokes:
    out = client.invoke(FunctionName="boto-fn", Payload=json.dumps({"n": 21}), LogType="Tail")
    assert out["StatusCode"] == 200 and "FunctionError" not in out, out
    assert json.loads(out["Payload"].read()) == {"double": 42}
    tail = base64.b64decode(out["LogResult"]).decode()
    assert "boto3 says 21" in tail and "REPORT RequestId:" in tail, tail
    out = client.invoke(FunctionName="boto-fn", Payload=json.dumps({}))
    assert out["FunctionError"] == "Unhandled", out
    assert json.loads(out["Payload"].read())["errorType"] == "KeyError"

    # Reserved concurrency 0 stops the function; boto3 retries 429s, so ask once.
    client.put_function_concurrency(FunctionName="boto-fn", ReservedConcurrentExecutions=0)
    assert client.get_function_concurrency(FunctionName="boto-fn")["ReservedConcurrentExecutions"] == 0
    once = boto3.client("lambda", region_name=client.meta.region_name, endpoint_url=client.meta.endpoint_url,
                        config=botocore.config.Config(retries={"total_max_attempts": 1}))
    try:
        once.invoke(FunctionName="boto-fn", Payload=json.dumps({"n": 1}))
        raise AssertionError("a function with reserved concurrency 0 ran")
    except once.exceptions.TooManyRequestsException as e:
        assert e.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded", e.response
    client.delete_function_concurrency(FunctionName="boto-fn")
    assert "ReservedConcurrentExecutions" not in client.get_function_concurrency(FunctionName="boto-fn")

# Versions with their own code, and an alias that sends 20% to version 2.
v1 = client.publish_version(FunctionName="boto-fn")
assert v1["Version"] == "1" and v1["FunctionArn"].endswith(":boto-fn:1"), v1
buf2 = io.BytesIO()
with zipfile.ZipFile(buf2, "w") as z:
    z.writestr("app.py", "def handler(event, context):\n    return {'v': context.function_version, 'arn': context.invoked_function_arn}\n")
client.update_function_code(FunctionName="boto-fn", ZipFile=buf2.getvalue())
client.get_waiter("function_updated_v2").wait(FunctionName="boto-fn", WaiterConfig={"Delay": 1})
latest = client.get_function_configuration(FunctionName="boto-fn")
try:
    client.publish_version(FunctionName="boto-fn", CodeSha256=v1["CodeSha256"])
    raise AssertionError("a publish with an old CodeSha256 was accepted")
except client.exceptions.InvalidParameterValueException as e:
    assert e.response["Error"]["Message"] == ("CodeSHA256 (%s) is different from current CodeSHA256 in $LATEST (%s). "
                                              "Please try again with the CodeSHA256 in $LATEST." % (v1["CodeSha256"], latest["CodeSha256"])), e.response
v2 = client.publish_version(FunctionName="boto-fn", CodeSha256=latest["CodeSha256"], RevisionId=latest["RevisionId"])
assert v2["Version"] == "2", v2
alias = client.create_alias(FunctionName="boto-fn", Name="live", FunctionVersion="1",
                            RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
try:
    client.update_alias(FunctionName="boto-fn", Name="live", FunctionVersion="2", RevisionId="stale")
    raise AssertionError("a stale alias RevisionId was accepted")
except client.exceptions.PreconditionFailedException:
    pass
try:
    client.create_alias(FunctionName="boto-fn", Name="head", FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
    raise AssertionError("a weighted alias on $LATEST was accepted")
except client.exceptions.InvalidParameterValueException as e:
    assert e.response["Error"]["Message"] == "$LATEST is not supported for an alias pointing to more than 1 version", e.response
try:
    client.update_function_configuration(FunctionName="boto-fn:1", Timeout=5)
    raise AssertionError("a published version's configuration was updated")
except client.exceptions.InvalidParameterValueException:
    pass
assert [a["Name"] for a in client.list_aliases(FunctionName="boto-fn", FunctionVersion="1")["Aliases"]] == ["live"]
if run_invokes:
    out = client.invoke(FunctionName="boto-fn", Qualifier="2", Payload=json.dumps({}))
    assert out["ExecutedVersion"] == "2", out
    assert json.loads(out["Payload"].read())["v"] == "2"
    seen = {}
    for _ in range(40):
        out = client.invoke(FunctionName="boto-fn:live", Payload=json.dumps({"n": 1}))
        seen[out["ExecutedVersion"]] = seen.get(out["ExecutedVersion"], 0) + 1
        if out["ExecutedVersion"] == "2":
            assert json.loads(out["Payload"].read())["arn"].endswith(":boto-fn:live")
    assert set(seen) <= {"1", "2"} and seen.get("1", 0) > 0, seen

client.delete_function(FunctionName="boto-fn")
try:
    client.get_function(FunctionName="boto-fn")
    raise AssertionError("deleted function still there")
except client.exceptions.ResourceNotFoundException as e:
    assert "Function not found" in e.response["Error"]["Message"], e.response
try:
    client.create_function(FunctionName="bad name!", Runtime=runtime, Handler="app.handler",
                           Role="arn:aws:iam::000000000000:role/r", Code={"ZipFile": code})
    raise AssertionError("a bad name was accepted")
except botocore.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "ValidationException", e.response
print("boto3 lifecycle ok")
