"""Nimbus runtime client for Python: the invocation loop of AWS Lambda's Python runtime.

Started by bootstrap.py as `python -S -B -u /var/runtime/bootstrap.py` with
_HANDLER=module.function. It lives in a module rather than in the script so that its
precompiled bytecode (__pycache__, written when the runtime directory is) spares compiling it
at every cold start. Standard library only, and as little of it as possible before the first
invocation: the HTTP client is a raw socket, JSON goes through the C accelerator directly, and
`logging` is configured only when user code imports it. Error types, messages and document
shapes follow awslambdaric.
"""

import os
import sys
import time

import _socket

_RUNTIME_PATH = "/2018-06-01/runtime/"
_CLIENT_DIR = os.path.dirname(os.path.abspath(__file__))
_request_id = None  # the invocation in progress, for log lines


class _Fault(Exception):
    """An error of the runtime itself, reported with a Runtime.* error type."""

    def __init__(self, error_type, msg, trace=None):
        Exception.__init__(self, msg)
        self.error_type = error_type
        self.msg = msg
        self.trace = trace


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 over one keep-alive socket. The Runtime API is served by our own server, which
# always frames its answers with Content-Length (chunked is understood too).


class _RuntimeClient(object):
    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self.addr = (host, int(port))
        self.host = address.encode("ascii")
        self.sock = None
        self.buf = b""

    def _connect(self):
        s = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        s.setsockopt(_socket.IPPROTO_TCP, _socket.TCP_NODELAY, 1)
        s.connect(self.addr)
        self.sock = s
        self.buf = b""

    def request(self, method, path, body=None, headers=b""):
        """Returns (status, headers with lowercase names, body bytes)."""
        head = b"%s %s HTTP/1.1\r\nHost: %s\r\n%s" % (method, path, self.host, headers)
        if body is not None:
            head += b"Content-Length: %d\r\n" % len(body)
        head += b"\r\n"
        # Only a GET is sent again, and only on a kept-alive connection that turns out to be
        # closed: a POST may have been acted upon.
        retry = self.sock is not None and body is None
        while True:
            if self.sock is None:
                self._connect()
            try:
                if body is not None and len(body) < 65536:
                    self.sock.sendall(head + body)
                else:
                    self.sock.sendall(head)
                    if body:
                        self.sock.sendall(body)
                return self._read_response()
            except _StaleConnection:
                self.close()
                if not retry:
                    raise ConnectionError("runtime api closed the connection")
            except OSError:
                self.close()
                if not retry:
                    raise
            retry = False

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buf = b""

    def _fill(self, first=False):
        data = self.sock.recv(65536)
        if not data:
            if first:
                raise _StaleConnection()
            raise ConnectionError("runtime api closed the connection mid-response")
        self.buf += data

    def _read_response(self):
        first = True
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self._fill(first and not self.buf)
            first = False
        head = self.buf[:end].decode("latin-1").split("\r\n")
        self.buf = self.buf[end + 4 :]
        status = int(head[0].split(" ", 2)[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = headers.get("content-length")
        if length is not None:
            n = int(length)
            while len(self.buf) < n:
                self._fill()
            body, self.buf = self.buf[:n], self.buf[n:]
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = self._read_chunked()
        else:
            body = b""
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def _read_chunked(self):
        parts = []
        while True:
            while b"\r\n" not in self.buf:
                self._fill()
            line, self.buf = self.buf.split(b"\r\n", 1)
            size = int(line.split(b";", 1)[0], 16)
            if size == 0:
                while b"\r\n\r\n" not in self.buf and not self.buf.startswith(b"\r\n"):
                    self._fill()
                if self.buf.startswith(b"\r\n"):
                    self.buf = self.buf[2:]
                else:
                    self.buf = self.buf.split(b"\r\n\r\n", 1)[1]
                return b"".join(parts)
            while len(self.buf) < size + 2:
                self._fill()
            parts.append(self.buf[:size])
            self.buf = self.buf[size + 2 :]


class _StaleConnection(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# JSON through the C accelerator, without importing json (which pulls in re and enum, several
# milliseconds of a cold start). Anything unexpected falls back to the json module.


def _json_codec():
    try:
        import _json

        class _Context(object):
            strict = True
            object_hook = None
            object_pairs_hook = None
            parse_float = float
            parse_int = int
            memo = {}

            @staticmethod
            def parse_constant(name):
                return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]

        scan = _json.make_scanner(_Context())
        encode = _json.make_encoder(
            {}, _json_default, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
        )
        space = " \t\n\r"

        def loads(s):
            if isinstance(s, (bytes, bytearray)):
                s = s.decode("utf-8")
            i, n = 0, len(s)
            while i < n and s[i] in space:
                i += 1
            try:
                obj, end = scan(s, i)
            except StopIteration as e:
                raise ValueError("Expecting value: line 1 column %d (char %d)" % (e.value + 1, e.value))
            while end < n and s[end] in space:
                end += 1
            if end != n:
                raise ValueError("Extra data: line 1 column %d (char %d)" % (end + 1, end))
            return obj

        def dumps(obj):
            if isinstance(obj, str):
                return _json.encode_basestring_ascii(obj)
            return "".join(encode(obj, 0))

        # Prove the accelerator behaves like json on this Python before trusting it.
        if loads(' {"a": [1, 2.5, "x", null, true]} ') != {"a": [1, 2.5, "x", None, True]}:
            raise ValueError("scanner")
        if dumps({"a": [1, 2.5, "\u00e9", None, True]}) != '{"a": [1, 2.5, "\\u00e9", null, true]}':
            raise ValueError("encoder")
        return loads, dumps
    except Exception:
        import json

        def dumps(obj):
            return json.dumps(obj, default=_json_default)

        return json.loads, dumps


def _json_default(obj):
    cls = obj.__class__
    if cls.__name__ == "Decimal" and cls.__module__ in ("decimal", "_decimal", "_pydecimal"):
        if obj.is_nan():
            return float("nan")
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError("Object of type %s is not JSON serializable" % cls.__name__)


_loads, _dumps = _json_codec()


# ---------------------------------------------------------------------------------------------
# Logging in Lambda's text format. `logging` is heavy to import, so its root handler is
# installed by an import hook when (and if) user code imports it.


def _timestamp():
    t = time.time()
    return "%s.%03dZ" % (time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)), int(t * 1000) % 1000)


def _setup_logging(logging):
    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record):
            try:
                sys.stdout.write(self.format(record))
            except Exception:
                self.handleError(record)

    class LambdaLoggerFilter(logging.Filter):
        def filter(self, record):
            record.aws_request_id = _request_id or ""
            return True

    logging.Formatter.converter = time.gmtime
    handler = LambdaLoggerHandler()
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.addFilter(LambdaLoggerFilter())
    root = logging.getLogger()
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    if level in logging._nameToLevel:
        root.setLevel(level)
    root.addHandler(handler)


class _LoggingHook(object):
    """A meta path finder that configures `logging` right after it is first imported."""

    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name != "logging":
            return None
        sys.meta_path.remove(cls)
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_setup(module):
            exec_module(module)
            _setup_logging(module)

        spec.loader.exec_module = exec_and_setup
        return spec


def _log_error(error):
    """Writes an error the way awslambdaric does: one log event, lines joined by \\r."""
    line = "[ERROR]"
    if error["errorType"]:
        line += " " + error["errorType"]
    if error["errorMessage"]:
        if error["errorType"]:
            line += ":"
        line += " " + error["errorMessage"]
    lines = [line, "Traceback (most recent call last):"]
    for frame in error["stackTrace"]:
        for text in frame.splitlines():
            stripped = text.lstrip(" ")
            lines.append("\u00a0" * (len(text) - len(stripped)) + stripped)
    sys.stdout.write("\r".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# The context object handed to handlers.


class _Slots(object):
    __slots__ = []

    def __repr__(self):
        fields = ",".join("%s=%s" % (f, getattr(self, f, None)) for f in self.__slots__)
        return "%s([%s])" % (self.__class__.__name__, fields)


class CognitoIdentity(_Slots):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]


class Client(_Slots):
    __slots__ = ["installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name"]


class ClientContext(_Slots):
    __slots__ = ["custom", "env", "client"]


def _from_dict(cls, d):
    if d is None:
        return None
    obj = cls()
    for field in cls.__slots__:
        setattr(obj, field, d.get(field))
    return obj


class LambdaContext(object):
    def __init__(self, request_id, client_context, identity, deadline_ms, invoked_function_arn):
        env = os.environ
        self.aws_request_id = request_id
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.invoked_function_arn = invoked_function_arn
        self.client_context = _from_dict(ClientContext, client_context)
        if self.client_context is not None:
            self.client_context.client = _from_dict(Client, self.client_context.client)
        self.identity = CognitoIdentity()
        identity = identity or {}
        self.identity.cognito_identity_id = identity.get("cognitoIdentityId")
        self.identity.cognito_identity_pool_id = identity.get("cognitoIdentityPoolId")
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._deadline_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def log(self, msg):
        sys.stdout.write(str(msg))

    def __repr__(self):
        return (
            "LambdaContext([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,function_name=%s,"
            "memory_limit_in_mb=%s,function_version=%s,invoked_function_arn=%s,client_context=%s,identity=%s])"
            % (
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
            )
        )


# ---------------------------------------------------------------------------------------------
# Loading the handler and running invocations.


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise _Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module %s as a handler module" % modname,
            )
        name = modname.replace("/", ".")
        __import__(name)
        module = sys.modules[name]
    except ImportError as e:
        raise _Fault("Runtime.ImportModuleError", "Unable to import module '%s': %s" % (modname, e))
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault("Runtime.UserCodeSyntaxError", "Syntax error in module '%s': %s" % (modname, e), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise _Fault("Runtime.HandlerNotFound", "Handler '%s' missing on module '%s'" % (fname, modname))


def _make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace or [],
    }


def _exception_error(exc_info, request_id=None):
    import traceback

    etype, value, tb = exc_info
    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    # Hide the client's frames above the user's code.
    for i, frame in enumerate(frames):
        if os.path.dirname(frame[0]) != _CLIENT_DIR:
            frames = frames[i:]
            break
    return _make_error(str(value), etype.__name__, traceback.format_list(frames), request_id)


def _post_error(client, path, error):
    body = _dumps(error).encode("utf-8")
    headers = b"Content-Type: application/json\r\nLambda-Runtime-Function-Error-Type: %s\r\n" % error[
        "errorType"
    ].encode("utf-8", "replace")
    status, _, answer = client.request(b"POST", path, body, headers)
    if status != 202:
        sys.stderr.write("runtime api refused %s: %d %s\n" % (path.decode(), status, answer.decode("utf-8", "replace")))


def _parse_json_header(value, name):
    if not value:
        return None
    try:
        return _loads(value)
    except Exception as e:
        raise _Fault("Runtime.LambdaContextUnmarshalError", "Unable to parse %s JSON: %s" % (name, e))


def _invoke(client, handler, headers, body):
    global _request_id
    request_id = headers.get("lambda-runtime-aws-request-id", "")
    _request_id = request_id
    trace_id = headers.get("lambda-runtime-trace-id")
    if trace_id is not None:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    path = _RUNTIME_PATH.encode() + b"invocation/" + request_id.encode("utf-8") + b"/"
    try:
        context = LambdaContext(
            request_id,
            _parse_json_header(headers.get("lambda-runtime-client-context"), "Client Context"),
            _parse_json_header(headers.get("lambda-runtime-cognito-identity"), "Cognito Identity"),
            int(headers.get("lambda-runtime-deadline-ms") or 0),
            headers.get("lambda-runtime-invoked-function-arn"),
        )
        try:
            event = _loads(body) if headers.get("content-type", "application/json") == "application/json" else body
        except Exception as e:
            raise _Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)
        result = handler(event, context)
        if isinstance(result, bytes):
            payload, content_type = result, b"application/unknown"
        else:
            try:
                payload, content_type = _dumps(result).encode("utf-8"), b"application/json"
            except Exception as e:
                raise _Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)
    except _Fault as f:
        error = _make_error(f.msg, f.error_type, f.trace, request_id)
    except Exception:
        error = _exception_error(sys.exc_info(), request_id)
    else:
        status, _, answer = client.request(b"POST", path + b"response", payload, b"Content-Type: " + content_type + b"\r\n")
        if status != 202:
            sys.stderr.write("runtime api refused the response: %d %s\n" % (status, answer.decode("utf-8", "replace")))
        return
    _log_error(error)
    _post_error(client, path + b"error", error)


def main():
    env = os.environ
    task_root = env.get("LAMBDA_TASK_ROOT", "/var/task")
    version = "python%d.%d" % sys.version_info[:2]
    sys.path[0:0] = [task_root, "/opt/python/lib/%s/site-packages" % version, "/opt/python"]
    if "logging" in sys.modules:
        _setup_logging(sys.modules["logging"])
    else:
        sys.meta_path.insert(0, _LoggingHook)

    client = _RuntimeClient(env["AWS_LAMBDA_RUNTIME_API"])
    try:
        handler = _load_handler(env.get("_HANDLER", ""))
    except Exception as e:
        if isinstance(e, _Fault):
            error = _make_error(e.msg, e.error_type, e.trace)
        else:
            error = _exception_error(sys.exc_info())
        sys.stdout.write(
            "[WARNING]\t%s\t\tLAMBDA_WARNING: Unhandled exception. The most likely cause is an issue in the function code.\n"
            % _timestamp()
        )
        _log_error(error)
        _post_error(client, _RUNTIME_PATH.encode() + b"init/error", error)
        sys.exit(1)

    next_path = _RUNTIME_PATH.encode() + b"invocation/next"
    while True:
        status, headers, body = client.request(b"GET", next_path)
        if status != 200:
            sys.stderr.write("runtime api /next: %d %s\n" % (status, body.decode("utf-8", "replace")))
            sys.exit(1)
        _invoke(client, handler, headers, body)


if __name__ == "__main__":
    main()
