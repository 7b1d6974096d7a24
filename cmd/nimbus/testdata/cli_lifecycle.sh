#!/usr/bin/env bash
# Drives a function's whole lifecycle through the real aws CLI, as a user would after
# `eval "$(nimbus env)"`. Arguments: a work dir, the Python runtime name, and "invoke" when
# functions can run here.
set -euo pipefail
work=$1 runtime=$2 run_invokes=${3:-}
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
# aws CLI v2 before 2.13 (Debian 12's 2.9) and v1 before 1.29 ignore AWS_ENDPOINT_URL.
aws() { command aws --endpoint-url "$AWS_ENDPOINT_URL" "$@"; }

printf 'def handler(event, context):\n    print("cli says", event.get("n"))\n    return {"n": event.get("n"), "fn": context.function_name}\n' > lambda_function.py
/usr/bin/python3 -c "import zipfile; z = zipfile.ZipFile('fn.zip', 'w'); z.write('lambda_function.py'); z.close()"

aws lambda create-function --function-name cli-fn --runtime "$runtime" --handler lambda_function.handler \
	--role arn:aws:iam::000000000000:role/lambda-role --zip-file fileb://fn.zip --memory-size 256 > create.json
grep -q '"State": "Pending"' create.json || fail "create-function did not answer Pending: $(cat create.json)"
aws lambda wait function-active-v2 --function-name cli-fn
[ "$(aws lambda get-function --function-name cli-fn --query Configuration.State --output text)" = Active ] || fail "not Active"
aws lambda list-functions --query 'Functions[].FunctionName' --output text | grep -qw cli-fn || fail "list-functions lacks cli-fn"
arn=$(aws lambda get-function-configuration --function-name cli-fn --query FunctionArn --output text)
[ "$(aws lambda get-function-configuration --function-name "$arn" --query MemorySize --output text)" = 256 ] || fail "by ARN"

aws lambda update-function-configuration --function-name cli-fn --timeout 9 > /dev/null
aws lambda wait function-updated-v2 --function-name cli-fn
[ "$(aws lambda get-function-configuration --function-name cli-fn --query Timeout --output text)" = 9 ] || fail "timeout not updated"
aws lambda update-function-code --function-name cli-fn --zip-file fileb://fn.zip > /dev/null
aws lambda wait function-updated-v2 --function-name cli-fn
aws lambda tag-resource --resource "$arn" --tags team=core
[ "$(aws lambda list-tags --resource "$arn" --query Tags.team --output text)" = core ] || fail "tags"
aws lambda get-account-settings --query AccountUsage.FunctionCount --output text | grep -q 1 || fail "account settings"
[ "$(aws lambda put-function-concurrency --function-name cli-fn --reserved-concurrent-executions 5 --query ReservedConcurrentExecutions --output text)" = 5 ] || fail "put-function-concurrency"
[ "$(aws lambda get-function-concurrency --function-name "$arn" --query ReservedConcurrentExecutions --output text)" = 5 ] || fail "get-function-concurrency"
[ "$(aws lambda get-function --function-name cli-fn --query Concurrency.ReservedConcurrentExecutions --output text)" = 5 ] || fail "get-function concurrency"
aws lambda delete-function-concurrency --function-name cli-fn
[ "$(aws lambda get-function-concurrency --function-name cli-fn --query ReservedConcurrentExecutions --output text)" = None ] || fail "get-function-concurrency after delete"

if [ "$run_invokes" = invoke ]; then
	aws lambda invoke --function-name cli-fn --cli-binary-format raw-in-base64-out --payload '{"n": 7}' \
		--log-type Tail --query LogResult --output text out.json > tail.b64 2>/dev/null \
		|| aws lambda invoke --function-name cli-fn --payload '{"n": 7}' --log-type Tail --query LogResult --output text out.json > tail.b64
	grep -q '"n": 7' out.json || fail "invoke result: $(cat out.json)"
	base64 -d tail.b64 | grep -q "cli says 7" || fail "log tail: $(base64 -d tail.b64)"
	base64 -d tail.b64 | grep -q "^REPORT RequestId: " || fail "no REPORT line"
fi

# Versions and a weighted alias.
[ "$(aws lambda publish-version --function-name cli-fn --query Version --output text)" = 1 ] || fail "publish-version"
[ "$(aws lambda publish-version --function-name cli-fn --query Version --output text)" = 1 ] || fail "publish of an unchanged \$LATEST"
aws lambda update-function-configuration --function-name cli-fn --description second > /dev/null
aws lambda wait function-updated-v2 --function-name cli-fn
[ "$(aws lambda publish-version --function-name cli-fn --query Version --output text)" = 2 ] || fail "second publish-version"
aws lambda create-alias --function-name cli-fn --name live --function-version 1 \
	--routing-config '{"AdditionalVersionWeights": {"2": 0.1}}' > alias.json
grep -q '"AliasArn": "arn:aws:lambda:us-east-1:000000000000:function:cli-fn:live"' alias.json || fail "create-alias: $(cat alias.json)"
[ "$(aws lambda get-alias --function-name cli-fn --name live --query 'RoutingConfig.AdditionalVersionWeights."2"' --output text)" = 0.1 ] || fail "get-alias weights"
[ "$(aws lambda list-versions-by-function --function-name cli-fn --query 'Versions[].Version' --output text)" = "\$LATEST	1	2" ] || fail "list-versions-by-function"
[ "$(aws lambda list-aliases --function-name cli-fn --query 'Aliases[].Name' --output text)" = live ] || fail "list-aliases"
[ "$(aws lambda get-function --function-name cli-fn:2 --query Configuration.Description --output text)" = second ] || fail "get-function of version 2"
if [ "$run_invokes" = invoke ]; then
	[ "$(aws lambda invoke --function-name cli-fn --qualifier 1 --query ExecutedVersion --output text out.json)" = 1 ] || fail "invoke version 1"
	case "$(aws lambda invoke --function-name cli-fn:live --query ExecutedVersion --output text out.json)" in 1|2) ;; *) fail "invoke live";; esac
fi
if aws lambda create-alias --function-name cli-fn --name bad --function-version 99 2> err.txt; then fail "alias to a missing version"; fi
grep -q "ResourceNotFoundException.*Function not found: arn:aws:lambda:us-east-1:000000000000:function:cli-fn:99" err.txt || fail "alias to 99: $(cat err.txt)"
if aws lambda publish-version --function-name cli-fn --code-sha-256 AAAA 2> err.txt; then fail "publish with a wrong CodeSha256"; fi
grep -q "InvalidParameterValueException.*CodeSHA256 (AAAA) is different from current CodeSHA256 in \$LATEST" err.txt || fail "wrong CodeSha256: $(cat err.txt)"
if aws lambda update-alias --function-name cli-fn --name live --routing-config '{"AdditionalVersionWeights": {"2": 1.5}}' 2> err.txt; then fail "weight 1.5"; fi
grep -q "ValidationException" err.txt || fail "weight 1.5: $(cat err.txt)"
if aws lambda delete-function --function-name cli-fn --qualifier 1 2> err.txt; then fail "deleted a version an alias uses"; fi
grep -q "ResourceConflictException.*\[live\]" err.txt || fail "delete version 1: $(cat err.txt)"

# Errors read the way the CLI prints AWS's.
if aws lambda get-function --function-name no-such-fn 2> err.txt; then fail "get of a missing function succeeded"; fi
grep -q "ResourceNotFoundException" err.txt || fail "missing function: $(cat err.txt)"
grep -q "Function not found: arn:aws:lambda:us-east-1:000000000000:function:no-such-fn" err.txt || fail "message: $(cat err.txt)"
if aws lambda create-function --function-name bad --runtime cobol --handler x.y \
	--role arn:aws:iam::000000000000:role/r --zip-file fileb://fn.zip 2> err.txt; then fail "bad runtime accepted"; fi
grep -q "InvalidParameterValueException" err.txt || fail "bad runtime: $(cat err.txt)"

aws lambda delete-function --function-name cli-fn
if aws lambda get-function --function-name cli-fn 2>/dev/null; then fail "deleted function still there"; fi
echo "cli lifecycle ok"
