import Ajv2020, { ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { connect } from 'node:net';
import openApiJson from '../../src/worker/http/openapi.json';
import { HttpResponse, KvCluster, suiteCluster } from './cluster';

/**
 * The OpenAPI document of src/worker/http/openapi.json, compiled with ajv (JSON Schema 2020-12, the
 * dialect of OpenAPI 3.1) in strict mode, and a checker of real answers against it.
 */

type JsonObject = Record<string, unknown>;

/** The conformance suites' key limit: small, so one request can pass it. */
export const MAX_KEY_BYTES = 32;
/** The conformance suites' value limit: small, so one request can pass it. */
export const MAX_VALUE_BYTES = 256;
/** A TTL (ms) no test outlives. */
export const LONG_TTL = 600_000;

/**
 * Why no request of a conformance suite produces the documented answer `status` of
 * `operationId` (the reason), or undefined when one does. `only503While` gives the operations
 * whose 503 comes only while a process loads or stops, with where that is tested.
 */
function notProducedByRequests(
  operationId: string,
  status: string,
  only503While: Readonly<Record<string, string>>,
): string | undefined {
  if (status === '500') return 'no request makes the server fail on purpose';
  if (status !== '503') return undefined;
  return (
    only503While[operationId] ??
    'needs the primary gone, stopping or saturated, or a stalled replica (test/faults/)'
  );
}

/**
 * The cluster a conformance suite checks answers of, as a {@link suiteCluster} with a 40 s start:
 * `token` required, the small limits above and `maxKeys`, short header and body timeouts (for
 * the 408s), debug logs, and `env` on top.
 */
export function conformanceCluster(
  token: string,
  maxKeys: number,
  use: (cluster: KvCluster) => unknown,
  env: Record<string, string> = {},
): void {
  suiteCluster(
    {
      workers: 2,
      env: {
        KV_AUTH_TOKEN: token,
        KV_MAX_KEY_BYTES: String(MAX_KEY_BYTES),
        KV_MAX_VALUE_BYTES: String(MAX_VALUE_BYTES),
        KV_MAX_KEYS: String(maxKeys),
        KV_HEADERS_TIMEOUT_MS: '1000',
        KV_REQUEST_TIMEOUT_MS: '2000',
        LOG_LEVEL: 'debug',
        ...env,
      },
    },
    use,
    40_000,
  );
}

/** The HTTP methods an OpenAPI path item can hold, as the document spells them. */
export const METHODS = [
  'get',
  'head',
  'put',
  'post',
  'delete',
  'patch',
  'options',
  'trace',
] as const;
export type Method = (typeof METHODS)[number];

/** One operation of the document. */
export interface Operation {
  readonly method: Method;
  /** The path template, as the document writes it: `/{key}/{ttl}`. */
  readonly template: string;
  readonly operationId: string;
  /** `1.1` for the v1.1 additions (`x-since`), `1.0` otherwise. */
  readonly since: string;
  /** The documented statuses. */
  readonly statuses: readonly string[];
}

// The document is registered with ajv under this id, so every schema in it is reachable by a
// JSON pointer and its `#/components/...` references resolve.
const DOCUMENT_ID = 'https://fanout-kv.invalid/openapi.json';
// The fields of an OpenAPI document's root: data to ajv, not JSON Schema keywords.
const ROOT_FIELDS = [
  'openapi',
  'info',
  'jsonSchemaDialect',
  'servers',
  'paths',
  'webhooks',
  'components',
  'security',
  'tags',
  'externalDocs',
];

/** `/a~b/c` -> the URI fragment of that JSON pointer. */
function fragment(pointer: readonly string[]): string {
  return (
    '#/' +
    pointer
      .map((part) =>
        encodeURIComponent(part.replace(/~/g, '~0').replace(/\//g, '~1')),
      )
      .join('/')
  );
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The OpenAPI document, with its schemas compiled. */
export class OpenApiDocument {
  readonly raw: JsonObject;
  private readonly ajv: Ajv2020;
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(raw: JsonObject = openApiJson) {
    this.raw = raw;
    // strictRequired stays off: a `then: {required: [...]}` names properties that the enclosing
    // object schema declares, and that check looks only at the schema holding `required`.
    this.ajv = new Ajv2020({
      strict: true,
      strictRequired: false,
      allErrors: true,
    });
    addFormats(this.ajv);
    for (const field of ROOT_FIELDS) this.ajv.addKeyword(field);
    this.ajv.addSchema({ ...raw, $id: DOCUMENT_ID });
  }

  /** Every operation, in document order. */
  operations(): Operation[] {
    const operations: Operation[] = [];
    for (const [template, item] of Object.entries(this.paths())) {
      for (const method of METHODS) {
        const operation = (item as JsonObject)[method];
        if (!isObject(operation)) continue;
        operations.push({
          method,
          template,
          operationId: String(operation.operationId),
          since: operation['x-since'] === '1.1' ? '1.1' : '1.0',
          statuses: Object.keys(operation.responses as JsonObject),
        });
      }
    }
    return operations;
  }

  /** The operation object at `method template`; throws when the document has none. */
  operation(method: Method, template: string): JsonObject {
    const operation = (this.paths()[template] as JsonObject | undefined)?.[
      method
    ];
    if (!isObject(operation))
      throw new Error(
        `the document has no ${method.toUpperCase()} ${template}`,
      );
    return operation;
  }

  /** The value at `pointer`, following `$ref`s (within the document) until there is none. */
  resolve(pointer: readonly string[]): {
    value: JsonObject;
    pointer: string[];
  } {
    let at = [...pointer];
    for (let hops = 0; hops < 16; hops++) {
      let value: unknown = this.raw;
      for (const part of at)
        value =
          typeof value === 'object' && value !== null
            ? (value as JsonObject)[part]
            : undefined;
      if (!isObject(value))
        throw new Error(`nothing at ${fragment(at)} of the document`);
      const ref = value.$ref;
      if (typeof ref !== 'string') return { value, pointer: at };
      if (!ref.startsWith('#/'))
        throw new Error(`${fragment(at)}: $ref ${ref} leaves the document`);
      at = ref
        .slice(2)
        .split('/')
        .map((part) =>
          decodeURIComponent(part).replace(/~1/g, '/').replace(/~0/g, '~'),
        );
    }
    throw new Error(`a $ref cycle through ${fragment(pointer)}`);
  }

  /** The compiled JSON Schema at `pointer` (strict mode: an unknown keyword throws). */
  validator(pointer: readonly string[]): ValidateFunction {
    const id = DOCUMENT_ID + fragment(pointer);
    let validate = this.validators.get(id);
    if (validate === undefined) {
      validate = this.ajv.getSchema(id);
      if (validate === undefined)
        throw new Error(`no schema at ${fragment(pointer)}`);
      this.validators.set(id, validate);
    }
    return validate;
  }

  /**
   * The pointer of every JSON Schema in the document: the component schemas and every
   * `schema` of a parameter, header or media type.
   */
  schemaPointers(): string[][] {
    const pointers: string[][] = [];
    const walk = (value: unknown, pointer: string[]): void => {
      if (Array.isArray(value)) {
        value.forEach((item, index) => walk(item, [...pointer, String(index)]));
        return;
      }
      if (!isObject(value)) return;
      for (const [name, child] of Object.entries(value)) {
        const at = [...pointer, name];
        if (name === 'schema' && isObject(child)) pointers.push(at);
        else if (
          pointer.length === 2 &&
          pointer[0] === 'components' &&
          pointer[1] === 'schemas'
        )
          pointers.push(at);
        else walk(child, at);
      }
    };
    walk(this.raw, []);
    return pointers;
  }

  /** Messages for every way `data` fails the schema at `pointer`; empty when it conforms. */
  schemaProblems(pointer: readonly string[], data: unknown): string[] {
    const validate = this.validator(pointer);
    if (validate(data)) return [];
    return (validate.errors ?? []).map(
      (error) =>
        `${error.instancePath || '(root)'} ${error.message ?? ''} (${error.schemaPath})`,
    );
  }

  private paths(): JsonObject {
    return this.raw.paths as JsonObject;
  }
}

export interface CheckOptions {
  /** The body is an event stream still open: check status, headers and media type only. */
  readonly streaming?: boolean;
}

/** What a conformance suite sends besides the method and the path. */
export interface Send {
  headers?: Record<string, string>;
  /** Sent as application/json unless `headers` names another type. */
  body?: string;
  /** Send the bearer token (default true). */
  auth?: boolean;
}

/** Sends a request and checks the answer has `status` and conforms to `method template`. */
export type ExpectConforms = (
  method: Method,
  template: string,
  path: string,
  status: number,
  options?: Send,
) => Promise<HttpResponse>;

/**
 * Checks real answers against the document: the status is documented for the operation, every
 * required header is there, every documented header and the body match their schemas, and the
 * media type is a documented one. Records which statuses of which operations were checked.
 */
export class Conformance {
  /** `operationId status` of every answer checked so far. */
  readonly checked = new Set<string>();

  constructor(readonly document: OpenApiDocument = new OpenApiDocument()) {}

  /**
   * {@link ExpectConforms} against the cluster `cluster()` returns when called (a suite's
   * `kv`, started in its beforeAll), with `auth` as the bearer header.
   */
  expecter(
    cluster: () => KvCluster,
    auth: Record<string, string>,
  ): ExpectConforms {
    return async (method, template, path, status, options = {}) => {
      const response = await cluster().request(method.toUpperCase(), path, {
        headers: {
          ...(options.auth === false ? {} : auth),
          ...(options.body === undefined
            ? {}
            : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        body: options.body,
      });
      if (response.status !== status)
        throw new Error(
          `${method.toUpperCase()} ${path}: expected ${status}, got ${response.status}: ${response.body}`,
        );
      this.check(method, template, response);
      return response;
    };
  }

  /** Throws, with every problem found, unless `response` is a documented answer of the operation. */
  check(
    method: Method,
    template: string,
    response: HttpResponse,
    options: CheckOptions = {},
  ): void {
    const operation = this.document.operation(method, template);
    const problems = this.problems(method, template, response, options);
    if (problems.length > 0) {
      const body = response.body.slice(0, 500);
      throw new Error(
        `${method.toUpperCase()} ${template} answered ${response.status} against the OpenAPI document:\n  ` +
          `${problems.join('\n  ')}\nheaders: ${JSON.stringify(response.headers)}\nbody: ${JSON.stringify(body)}`,
      );
    }
    this.checked.add(`${String(operation.operationId)} ${response.status}`);
  }

  /**
   * `operationId status` of every documented answer of `operations` not checked so far, but
   * those no request produces on purpose (`only503While` as for {@link notProducedByRequests}).
   */
  unchecked(
    operations: readonly Operation[],
    only503While: Readonly<Record<string, string>>,
  ): string[] {
    const missing: string[] = [];
    for (const op of operations)
      for (const status of op.statuses) {
        const id = `${op.operationId} ${status}`;
        if (
          !this.checked.has(id) &&
          notProducedByRequests(op.operationId, status, only503While) ===
            undefined
        )
          missing.push(id);
      }
    return missing;
  }

  /**
   * Sends each of `operations`, at `pathOf(op)`, as Node's HTTP parser refuses it, and checks
   * the answers: a Content-Length that is not a number (400), 70,000 bytes of headers (431, with
   * `auth`), and headers that never end (408 after KV_HEADERS_TIMEOUT_MS, all at once).
   */
  async checkParserAnswers(
    kv: KvCluster,
    auth: Record<string, string>,
    operations: readonly Operation[],
    pathOf: (op: Operation) => string,
  ): Promise<void> {
    for (const op of operations) {
      const method = op.method.toUpperCase();
      const path = pathOf(op);
      const malformed = await rawExchange(
        kv.port,
        `${method} ${path} HTTP/1.1\r\nHost: kv\r\nContent-Length: ten\r\n\r\n`,
      );
      expect(malformed.status).toBe(400);
      this.check(op.method, op.template, malformed);
      const huge = await kv.request(method, path, {
        headers: { ...auth, 'x-padding': 'p'.repeat(70_000) },
      });
      expect(huge.status).toBe(431);
      this.check(op.method, op.template, huge);
    }
    const slow = await Promise.all(
      operations.map((op) =>
        rawExchange(
          kv.port,
          `${op.method.toUpperCase()} ${pathOf(op)} HTTP/1.1\r\nHost: kv\r\n`,
        ),
      ),
    );
    slow.forEach((response, index) => {
      const op = operations[index]!;
      expect(response.status).toBe(408);
      this.check(op.method, op.template, response);
    });
  }

  private problems(
    method: Method,
    template: string,
    response: HttpResponse,
    options: CheckOptions,
  ): string[] {
    const status = String(response.status);
    const responses = this.document.operation(method, template)
      .responses as JsonObject;
    const key = status in responses ? status : 'default';
    if (!(key in responses)) return [`status ${status} is not documented`];
    const documented = this.document.resolve([
      'paths',
      template,
      method,
      'responses',
      key,
    ]);
    const problems: string[] = [];

    const headers = (documented.value.headers ?? {}) as JsonObject;
    for (const name of Object.keys(headers)) {
      const header = this.document.resolve([
        ...documented.pointer,
        'headers',
        name,
      ]);
      const value = response.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.value.required === true)
          problems.push(`the required header ${name} is missing`);
        continue;
      }
      for (const problem of this.document.schemaProblems(
        [...header.pointer, 'schema'],
        value,
      ))
        problems.push(`header ${name}: ${problem}`);
    }

    const content = documented.value.content as JsonObject | undefined;
    if (method === 'head' || content === undefined) {
      if (response.raw.length > 0)
        problems.push('a body where the document describes none');
      return problems;
    }
    const mediaType = (response.headers['content-type'] ?? '')
      .split(';')[0]!
      .trim()
      .toLowerCase();
    if (!(mediaType in content)) {
      problems.push(
        `Content-Type ${JSON.stringify(response.headers['content-type'])} is not one of ${Object.keys(content).join(', ')}`,
      );
      return problems;
    }
    if (options.streaming === true) return problems;
    let body: unknown = response.body;
    if (mediaType === 'application/json') {
      try {
        body = JSON.parse(response.body);
      } catch {
        problems.push('the body is not JSON');
        return problems;
      }
    }
    for (const problem of this.document.schemaProblems(
      [...documented.pointer, 'content', mediaType, 'schema'],
      body,
    ))
      problems.push(`body ${problem}`);
    return problems;
  }
}

/**
 * Sends `request` as raw bytes on a fresh connection and reads everything until the server
 * closes it. For requests no HTTP client sends: malformed ones, or ones that never finish.
 */
function rawExchange(
  port: number,
  request: string,
  timeoutMs = 15_000,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer to ${JSON.stringify(request.slice(0, 60))}`));
    }, timeoutMs);
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.write(request);
  });
}

/** Parses one HTTP/1.1 answer with a Content-Length (or none) from its bytes. */
function parseResponse(bytes: Buffer): HttpResponse {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1)
    throw new Error(
      `not an HTTP answer: ${JSON.stringify(bytes.toString('latin1').slice(0, 200))}`,
    );
  const [statusLine, ...lines] = bytes
    .subarray(0, end)
    .toString('latin1')
    .split('\r\n');
  const status = /^HTTP\/1\.1 ([0-9]{3})/.exec(statusLine ?? '');
  if (status === null) throw new Error(`no status line: ${statusLine}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line
      .slice(colon + 1)
      .trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  const raw = bytes.subarray(end + 4, end + 4 + length);
  return {
    status: Number(status[1]),
    headers,
    body: raw.toString('utf8'),
    raw,
  };
}
