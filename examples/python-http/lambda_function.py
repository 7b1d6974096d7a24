"""An HTTP-style JSON API in one Lambda function.

It answers API Gateway (REST and HTTP API) and function URL events, and plain events too:

    GET  /hello?name=Ada   -> {"message": "Hello, Ada!"}
    POST /echo             -> the JSON body, back, with its size
    GET  /time             -> the time, in UTC
    anything else          -> 404

Each request is logged as one JSON line, so `nimbus logs python-http --filter '"status": 404'`
finds the misses.
"""

import base64
import json
from datetime import datetime, timezone


def lambda_handler(event, context):
    method, path, query, body = parse(event)
    status, payload = route(method, path, query, body)
    print(json.dumps({"method": method, "path": path, "status": status, "request_id": context.aws_request_id}))
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(payload),
    }


def parse(event):
    """Reads the method, path, query and JSON body of any of the event shapes."""
    http = event.get("requestContext", {}).get("http", {})  # HTTP API v2 and function URLs
    method = event.get("httpMethod") or http.get("method") or event.get("method") or "GET"
    path = event.get("rawPath") or event.get("path") or "/hello"
    query = event.get("queryStringParameters") or {}
    if "name" in event and "name" not in query:
        query["name"] = event["name"]  # a plain {"name": ...} event
    raw = event.get("body")
    if raw and event.get("isBase64Encoded"):
        raw = base64.b64decode(raw).decode()
    body = None
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
    return method.upper(), path, query, body


def route(method, path, query, body):
    if method == "GET" and path == "/hello":
        return 200, {"message": "Hello, %s!" % query.get("name", "world")}
    if method == "POST" and path == "/echo":
        return 200, {"received": body, "size": len(json.dumps(body))}
    if method == "GET" and path == "/time":
        return 200, {"utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    return 404, {"error": "no route for %s %s" % (method, path)}
