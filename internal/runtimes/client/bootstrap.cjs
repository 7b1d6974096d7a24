// Nimbus runtime client for Node.js: the invocation loop of AWS Lambda's Node.js runtime.
//
// Runs as `node /var/runtime/bootstrap.cjs` with _HANDLER=file.function. Plain JavaScript,
// built-in modules only. The entry point is CommonJS because Node starts a CommonJS entry
// several milliseconds faster than an ES module one; ES module handlers are loaded with
// import(). The HTTP client is a raw socket that is unref'd between requests, so that the
// event loop can drain for callbackWaitsForEmptyEventLoop. Error types, messages, documents
// and log lines follow aws-lambda-nodejs-runtime-interface-client.
'use strict';

const net = require('net');
const path = require('path');
const fs = require('fs');
const util = require('util');

const RUNTIME_PATH = '/2018-06-01/runtime/';

// ---------------------------------------------------------------------------------------------
// Errors of the runtime itself; their names are Lambda's error types.

class ImportModuleError extends Error {}
class HandlerNotFound extends Error {}
class MalformedHandlerName extends Error {}
class UserCodeSyntaxError extends Error {}
class UnhandledPromiseRejection extends Error {
  constructor(reason, promise) {
    super(reason);
    this.reason = reason;
    this.promise = promise;
  }
}
class NodeJsExit extends Error {}
for (const cls of [ImportModuleError, HandlerNotFound, MalformedHandlerName, UserCodeSyntaxError, UnhandledPromiseRejection, NodeJsExit]) {
  cls.prototype.name = `Runtime.${cls.name}`;
}

function isError(obj) {
  return obj && typeof obj.name === 'string' && typeof obj.message === 'string' && typeof obj.stack === 'string';
}

// toRapidResponse turns anything thrown or passed to a callback into Lambda's error document.
function toRapidResponse(error) {
  try {
    if (util.types.isNativeError(error) || isError(error)) {
      return { errorType: error.name, errorMessage: error.message, trace: error.stack.split('\n') };
    }
    return { errorType: typeof error, errorMessage: String(error), trace: [] };
  } catch (_) {
    return {
      errorType: 'handled',
      errorMessage: 'callback called with Error argument, but there was a problem while retrieving one or more of its message, name, and stack',
    };
  }
}

function intoError(err) {
  return err instanceof Error ? err : new Error(err);
}

// toFormatted renders an error for the log the way Lambda does: a tab, then JSON.
function toFormatted(error) {
  try {
    return '\t' + JSON.stringify(error, (_k, v) => {
      if (v instanceof Error) {
        const ret = Object.assign({ errorType: v.name, errorMessage: v.message, code: v.code }, v);
        if (typeof v.stack === 'string') ret.stack = v.stack.split('\n');
        return ret;
      }
      return v;
    });
  } catch (_) {
    return '\t' + JSON.stringify(toRapidResponse(error));
  }
}

// ---------------------------------------------------------------------------------------------
// Logging: console methods write "<iso time>\t<request id>\t<LEVEL>\t<message>", one line per
// call (newlines become \r so that a message stays one log event).

const REQUEST_ID = Symbol.for('aws.lambda.runtime.requestId');

function patchConsole() {
  const levels = { TRACE: 1, DEBUG: 2, INFO: 3, WARN: 4, ERROR: 5, FATAL: 6 };
  const min = levels[(process.env.AWS_LAMBDA_LOG_LEVEL || '').toUpperCase()] || levels.TRACE;
  const logger = (level) => {
    if (levels[level] < min) return () => {};
    return (message, ...params) => {
      const line = `${new Date().toISOString()}\t${globalThis[REQUEST_ID]}\t${level}\t${util.format(message, ...params)}`;
      process.stdout.write(line.replace(/\n/g, '\r') + '\n');
    };
  };
  console.trace = logger('TRACE');
  console.debug = logger('DEBUG');
  console.info = logger('INFO');
  console.log = console.info;
  console.warn = logger('WARN');
  console.error = logger('ERROR');
  console.fatal = logger('FATAL');
}

function logError(msg, err) {
  console.error(msg, toFormatted(intoError(err)));
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.1 over one keep-alive socket to the Runtime API, one request at a time.

class RuntimeClient {
  constructor(address) {
    const i = address.lastIndexOf(':');
    this.host = address.slice(0, i);
    this.port = parseInt(address.slice(i + 1), 10);
    this.hostHeader = address;
    this.socket = null;
    this.pending = null; // { resolve, reject, chunks, size }
  }

  connect() {
    const socket = net.connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk) => {
      if (this.socket === socket) this.onData(chunk);
    });
    // Errors and closes of a socket already replaced concern no request.
    socket.on('error', (err) => {
      if (this.socket === socket) this.fail(err);
    });
    socket.on('close', () => {
      if (this.socket === socket) this.fail(new Error('runtime api closed the connection'));
    });
    this.socket = socket;
  }

  fail(err) {
    const p = this.pending;
    if (!p) return;
    if (p.retry && p.size === 0) {
      // A kept-alive connection closed under a GET that got no answer: send it again, once.
      p.retry = false;
      this.socket = null;
      this.send(p);
      return;
    }
    this.pending = null;
    if (this.socket) this.socket.unref();
    p.reject(err);
  }

  request(method, reqPath, body, headers) {
    return new Promise((resolve, reject) => {
      let head = `${method} ${reqPath} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
      for (const name in headers) head += `${name}: ${headers[name]}\r\n`;
      if (body !== undefined) head += `Content-Length: ${body.length}\r\n`;
      head += '\r\n';
      const data = body !== undefined && body.length > 0 ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1');
      // Only a GET is sent again: a POST may have been acted upon.
      const retry = body === undefined && this.socket !== null && !this.socket.destroyed;
      this.send({ resolve, reject, data, retry, chunks: [], size: 0 });
    });
  }

  send(p) {
    if (!this.socket || this.socket.destroyed) this.connect();
    this.pending = p;
    this.socket.ref();
    this.socket.write(p.data);
  }

  onData(chunk) {
    const p = this.pending;
    if (!p) return;
    p.chunks.push(chunk);
    p.size += chunk.length;
    if (!p.head) {
      const buf = p.chunks.length === 1 ? p.chunks[0] : Buffer.concat(p.chunks, p.size);
      p.chunks = [buf];
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.toString('latin1', 0, end).split('\r\n');
      const headers = {};
      for (let i = 1; i < lines.length; i++) {
        const c = lines[i].indexOf(':');
        headers[lines[i].slice(0, c).trim().toLowerCase()] = lines[i].slice(c + 1).trim();
      }
      p.head = { status: parseInt(lines[0].split(' ')[1], 10), headers };
      p.bodyStart = end + 4;
      if (headers['content-length'] !== undefined) {
        p.end = p.bodyStart + parseInt(headers['content-length'], 10);
      } else if ((headers['transfer-encoding'] || '').toLowerCase() !== 'chunked') {
        p.end = p.bodyStart;
      }
    }
    let body;
    if (p.end !== undefined) {
      // Content-Length framing: wait for the whole body before joining the chunks once.
      if (p.size < p.end) return;
      if (p.size > p.end) {
        this.fail(new Error('runtime api sent more than one response'));
        return;
      }
      const buf = p.chunks.length === 1 ? p.chunks[0] : Buffer.concat(p.chunks, p.size);
      body = buf.subarray(p.bodyStart, p.end);
    } else {
      body = parseChunked(Buffer.concat(p.chunks, p.size), p.bodyStart);
      if (body === undefined) return;
    }
    this.pending = null;
    if ((p.head.headers.connection || '').toLowerCase() === 'close') {
      this.socket.destroy();
      this.socket = null;
    } else {
      // Let the event loop drain while no request is in flight.
      this.socket.unref();
    }
    p.resolve({ status: p.head.status, headers: p.head.headers, body });
  }

  async next() {
    const res = await this.request('GET', RUNTIME_PATH + 'invocation/next');
    if (res.status !== 200) {
      throw new Error(`runtime api /next: ${res.status} ${res.body.toString()}`);
    }
    return res;
  }

  async post(reqPath, bodyString, headers) {
    const res = await this.request('POST', reqPath, Buffer.from(bodyString, 'utf8'), headers);
    if (res.status !== 202) {
      process.stderr.write(`runtime api refused ${reqPath}: ${res.status} ${res.body.toString()}\n`);
    }
  }

  postResponse(id, result) {
    return this.post(`${RUNTIME_PATH}invocation/${encodeURIComponent(id)}/response`, serialize(result), {
      'Content-Type': 'application/json',
    });
  }

  postError(reqPath, error) {
    const doc = toRapidResponse(error);
    return this.post(reqPath, serialize(doc), {
      'Content-Type': 'application/json',
      'Lambda-Runtime-Function-Error-Type': String(doc.errorType).replace(/[^\x20-\x7e]/g, '?'),
    });
  }

  postInvocationError(id, error) {
    return this.postError(`${RUNTIME_PATH}invocation/${encodeURIComponent(id)}/error`, error);
  }

  postInitError(error) {
    return this.postError(RUNTIME_PATH + 'init/error', error);
  }
}

// parseChunked decodes a chunked body starting at i, or returns undefined if incomplete.
function parseChunked(buf, i) {
  const parts = [];
  for (;;) {
    const eol = buf.indexOf('\r\n', i);
    if (eol < 0) return undefined;
    const size = parseInt(buf.toString('latin1', i, eol), 16);
    if (size === 0) {
      // Trailers, if any, end with an empty line.
      return buf.indexOf('\r\n\r\n', eol) >= 0 || buf.length >= eol + 4 ? Buffer.concat(parts) : undefined;
    }
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    i = eol + 2 + size + 2;
  }
}

function serialize(value) {
  return JSON.stringify(value === undefined ? null : value);
}

// ---------------------------------------------------------------------------------------------
// Loading the handler: "dir/file.export.nested", as CommonJS or as an ES module.

function hasTypeModule(folder) {
  for (;;) {
    if (folder.endsWith('/node_modules')) return false;
    const pj = path.join(folder, 'package.json');
    if (fs.existsSync(pj)) {
      try {
        return JSON.parse(fs.readFileSync(pj, 'utf8')).type === 'module';
      } catch (e) {
        console.warn(`${pj} cannot be read, it will be ignored for ES module detection purposes.`, e);
        return false;
      }
    }
    const parent = path.resolve(folder, '..');
    if (parent === folder) return false;
    folder = parent;
  }
}

async function loadModule(appRoot, moduleRoot, moduleName) {
  const file = path.resolve(appRoot, moduleRoot, moduleName);
  const requireFile = (ext) => (fs.existsSync(file + ext) ? require(file + ext) : undefined);
  const importFile = async (ext) => {
    if (!fs.existsSync(file + ext)) return undefined;
    return await import(require('url').pathToFileURL(file + ext).href);
  };
  const extensionless = requireFile('');
  if (extensionless) return extensionless;
  const typeModule = hasTypeModule(path.dirname(file));
  if (!typeModule) {
    const loaded = requireFile('.js');
    if (loaded) return loaded;
  }
  const loaded = (typeModule && (await importFile('.js'))) || (await importFile('.mjs')) || requireFile('.cjs');
  if (loaded) return loaded;
  // Fall back to Node's own resolution from the task root (node_modules, directories).
  return require(require.resolve(moduleName, { paths: [appRoot, moduleRoot] }));
}

async function loadHandler(appRoot, fullHandler) {
  if (fullHandler.includes('..')) {
    throw new MalformedHandlerName(`'${fullHandler}' is not a valid handler name. Use absolute paths when specifying root directories in handler names.`);
  }
  const base = path.basename(fullHandler);
  const moduleRoot = fullHandler.substring(0, fullHandler.indexOf(base));
  const match = base.match(/^([^.]*)\.(.*)$/);
  if (!match) throw new MalformedHandlerName('Bad handler');
  let userModule;
  try {
    userModule = await loadModule(appRoot, moduleRoot, match[1]);
  } catch (e) {
    if (e instanceof SyntaxError) throw new UserCodeSyntaxError(e);
    if (e && e.code === 'MODULE_NOT_FOUND') throw new ImportModuleError(e);
    throw e;
  }
  const fn = match[2].split('.').reduce((obj, key) => obj && obj[key], userModule);
  if (!fn) throw new HandlerNotFound(`${fullHandler} is undefined or not exported`);
  if (typeof fn !== 'function') throw new HandlerNotFound(`${fullHandler} is not a function`);
  return fn;
}

// ---------------------------------------------------------------------------------------------
// The invocation loop.

// beforeExit runs when the event loop is empty: it ends invocations that wait for it.
let beforeExit = () => {};
process.on('beforeExit', () => beforeExit());

// errorCallbacks report uncaught errors against the invocation in progress, or Init.
let onUncaught = null;

function parseJSONHeader(value, name) {
  if (value === undefined) return undefined;
  try {
    return JSON.parse(value);
  } catch (err) {
    throw new Error(`Cannot parse ${name} as json: ${err.toString()}`);
  }
}

// buildCallbackContext returns the handler's callback and the part of its context with
// callbackWaitsForEmptyEventLoop and succeed/fail/done, each effective only once.
function buildCallbackContext(client, id, scheduleNext) {
  let completed = false;
  let waitForEmptyEventLoop = true;
  let finished = false;
  const postError = (err) => {
    logError('Invoke Error', err);
    client.postInvocationError(id, err).then(scheduleNext, fatal);
  };
  const complete = (result) => {
    if (completed) {
      console.error('Invocation has already been reported as done. Cannot call complete more than once per invocation.');
      return;
    }
    completed = true;
    let body;
    try {
      body = serialize(result);
    } catch (_) {
      postError(new Error('Unable to stringify response body'));
      return;
    }
    client.post(`${RUNTIME_PATH}invocation/${encodeURIComponent(id)}/response`, body, { 'Content-Type': 'application/json' }).then(scheduleNext, fatal);
  };
  const callback = (err, result) => {
    beforeExit = () => {};
    if (err !== undefined && err !== null) {
      postError(err);
    } else if (!waitForEmptyEventLoop) {
      complete(result);
    } else {
      beforeExit = () => setImmediate(() => complete(result));
    }
  };
  const done = (err, result) => {
    beforeExit = () => {};
    if (err !== undefined && err !== null) postError(err);
    else complete(result);
  };
  const once = (fn) => (...args) => {
    if (!finished) {
      finished = true;
      fn(...args);
    }
  };
  const context = {
    get callbackWaitsForEmptyEventLoop() {
      return waitForEmptyEventLoop;
    },
    set callbackWaitsForEmptyEventLoop(value) {
      waitForEmptyEventLoop = value;
    },
    succeed: once((result) => done(null, result)),
    fail: once((err) => done(err === undefined || err === null ? 'handled' : err, null)),
    done: once(done),
  };
  return [once(callback), context, () => (completed = true)];
}

function fatal(err) {
  process.stderr.write(`runtime client failed: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
}

async function runOnce(client, handler, isAsync) {
  const { headers, body } = await client.next();
  const id = headers['lambda-runtime-aws-request-id'];
  globalThis[REQUEST_ID] = id;
  if (headers['lambda-runtime-trace-id']) process.env._X_AMZN_TRACE_ID = headers['lambda-runtime-trace-id'];
  else delete process.env._X_AMZN_TRACE_ID;

  const scheduleNext = () => setImmediate(() => runOnce(client, handler, isAsync).catch(fatal));
  const [callback, context, markCompleted] = buildCallbackContext(client, id, scheduleNext);
  onUncaught = (error, exitCode) => client.postInvocationError(id, error).finally(() => process.exit(exitCode));
  beforeExit = () => {
    markCompleted();
    if (isAsync) {
      // An async handler whose promise never settled, with nothing left to run.
      const err = new NodeJsExit('Runtime exited without providing a reason: the handler returned a promise that never settled');
      logError('Invoke Error', err);
      client.postInvocationError(id, err).then(scheduleNext, fatal);
    } else {
      client.postResponse(id, null).then(scheduleNext, fatal);
    }
  };
  try {
    const deadline = Number(headers['lambda-runtime-deadline-ms']);
    Object.assign(context, {
      functionVersion: process.env.AWS_LAMBDA_FUNCTION_VERSION,
      functionName: process.env.AWS_LAMBDA_FUNCTION_NAME,
      memoryLimitInMB: process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
      logGroupName: process.env.AWS_LAMBDA_LOG_GROUP_NAME,
      logStreamName: process.env.AWS_LAMBDA_LOG_STREAM_NAME,
      clientContext: parseJSONHeader(headers['lambda-runtime-client-context'], 'ClientContext'),
      identity: parseJSONHeader(headers['lambda-runtime-cognito-identity'], 'CognitoIdentity'),
      invokedFunctionArn: headers['lambda-runtime-invoked-function-arn'],
      awsRequestId: id,
      getRemainingTimeInMillis: () => deadline - Date.now(),
    });
    const result = handler(JSON.parse(body.toString('utf8')), context, callback);
    if (result && typeof result.then === 'function') {
      result.then(context.succeed, context.fail).catch(context.fail);
    }
  } catch (err) {
    callback(err);
  }
}

async function main() {
  patchConsole();
  const client = new RuntimeClient(process.env.AWS_LAMBDA_RUNTIME_API);
  onUncaught = (error, exitCode) => client.postInitError(error).finally(() => process.exit(exitCode));
  process.on('uncaughtException', (error) => {
    logError('Uncaught Exception', error);
    onUncaught(error, 129);
  });
  process.on('unhandledRejection', (reason, promise) => {
    const error = new UnhandledPromiseRejection(reason, promise);
    logError('Unhandled Promise Rejection', error);
    onUncaught(error, 128);
  });

  let handler;
  try {
    handler = await loadHandler(process.env.LAMBDA_TASK_ROOT || '/var/task', process.env._HANDLER || '');
  } catch (err) {
    logError('Init Error', err);
    await client.postInitError(err).catch(() => {});
    process.exit(1);
  }
  const isAsync = handler.constructor && handler.constructor.name === 'AsyncFunction';
  runOnce(client, handler, isAsync).catch(fatal);
}

main().catch(fatal);
