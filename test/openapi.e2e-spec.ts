import openApiJson from '../src/worker/http/openapi.json';
import { HttpResponse, KvCluster } from './support/cluster';
import {
  Conformance,
  conformanceCluster,
  LONG_TTL,
  MAX_KEY_BYTES,
  MAX_VALUE_BYTES,
  OpenApiDocument,
} from './support/openapi';

/**
 * The OpenAPI document (src/worker/http/openapi.json) against the server: the document is valid, the
 * worker's route table is every operation it describes, and real answers of the built cluster
 * (status, headers, body) for every v1 route and error conform to it. The answers of the v1.1
 * operations (`x-since: "1.1"`) are checked by openapi-v11.e2e-spec.ts.
 */

const TOKEN = 'conformance-token';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const MAX_KEYS = 40;

const document = new OpenApiDocument();
const conformance = new Conformance(document);
const v1Operations = document.operations().filter((op) => op.since === '1.0');

/** A concrete path for `template`: `/{key}/{ttl}` -> `/probe/600000`. */
function concretePath(template: string): string {
  return template.replace('{key}', 'probe').replace('{ttl}', String(LONG_TTL));
}

/** The raw value at `pointer` of the document, without following `$ref`s. */
function rawAt(pointer: readonly string[]): unknown {
  let value: unknown = document.raw;
  for (const part of pointer)
    value =
      typeof value === 'object' && value !== null
        ? (value as Record<string, unknown>)[part]
        : undefined;
  return value;
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 and every schema in it compiles as JSON Schema 2020-12 in strict mode', () => {
    expect(document.raw.openapi).toMatch(/^3\.1\.[0-9]+$/);
    const pointers = document.schemaPointers();
    expect(pointers.length).toBeGreaterThan(60);
    for (const pointer of pointers) document.validator(pointer);
  });

  it('resolves every $ref inside itself', () => {
    const refs: string[][] = [];
    const walk = (value: unknown, pointer: string[]): void => {
      if (typeof value !== 'object' || value === null) return;
      for (const [name, child] of Object.entries(value)) {
        if (name === '$ref') refs.push(pointer);
        else walk(child, [...pointer, name]);
      }
    };
    walk(document.raw, []);
    expect(refs.length).toBeGreaterThan(100);
    for (const pointer of refs)
      expect(() => document.resolve(pointer)).not.toThrow();
  });

  it('gives every operation a unique id, a summary and a tag, and declares every path parameter', () => {
    const ids = new Set<string>();
    for (const op of document.operations()) {
      const operation = document.operation(op.method, op.template);
      expect(ids.has(op.operationId)).toBe(false);
      ids.add(op.operationId);
      expect(typeof operation.summary).toBe('string');
      expect(operation.tags).toEqual([expect.any(String)]);
      const declared = new Set<string>();
      for (const level of [
        ['paths', op.template, 'parameters'],
        ['paths', op.template, op.method, 'parameters'],
      ]) {
        const parameters = rawAt(level);
        if (parameters === undefined) continue;
        expect(Array.isArray(parameters)).toBe(true);
        (parameters as unknown[]).forEach((_, index) => {
          const parameter = document.resolve([...level, String(index)]).value;
          if (parameter.in === 'path') {
            expect(parameter.required).toBe(true);
            declared.add(String(parameter.name));
          }
        });
      }
      const inTemplate = [...op.template.matchAll(/\{([^}]+)\}/g)].map(
        (m) => m[1]!,
      );
      expect([...declared].sort()).toEqual(inTemplate.sort());
    }
  });

  it('names the error codes of every error answer: a code it does not list fails', () => {
    for (const op of document.operations()) {
      for (const status of op.statuses.filter((s) => Number(s) >= 400)) {
        const response = document.resolve([
          'paths',
          op.template,
          op.method,
          'responses',
          status,
        ]);
        const json = (
          response.value.content as Record<string, unknown> | undefined
        )?.['application/json'];
        if (op.method === 'head') {
          expect(json).toBeUndefined();
          continue;
        }
        expect(json).toBeDefined();
        const schema = [
          ...response.pointer,
          'content',
          'application/json',
          'schema',
        ];
        expect(
          document.schemaProblems(schema, {
            error: 'not_a_code_of_this_api',
            message: 'm',
          }),
        ).not.toEqual([]);
      }
    }
  });

  it('the checker refuses answers that break the document', () => {
    const answer = (
      status: number,
      headers: Record<string, string>,
      body: string,
    ): HttpResponse => ({ status, headers, body, raw: Buffer.from(body) });
    const json = { 'content-type': 'application/json', 'x-request-id': 'r1' };
    // An undocumented code, an undocumented status, a missing ETag, a stray field, a body on HEAD.
    expect(() =>
      conformance.check(
        'get',
        '/{key}',
        answer(404, json, '{"error":"key_exists","message":"m"}'),
      ),
    ).toThrow(/must be equal to constant/);
    expect(() =>
      conformance.check(
        'get',
        '/{key}',
        answer(409, json, '{"error":"x","message":"m"}'),
      ),
    ).toThrow(/status 409 is not documented/);
    expect(() =>
      conformance.check('get', '/{key}', answer(200, json, '1')),
    ).toThrow(/required header ETag/);
    expect(() =>
      conformance.check(
        'put',
        '/{key}',
        answer(200, { ...json, etag: '"3"' }, '{"key":"a","revision":3,"x":1}'),
      ),
    ).toThrow(/additional properties/);
    expect(() =>
      conformance.check(
        'head',
        '/{key}',
        answer(200, { ...json, etag: '"3"' }, '1'),
      ),
    ).toThrow(/a body where the document describes none/);
    expect(() =>
      conformance.check(
        'get',
        '/_/metrics',
        answer(200, { ...json, 'content-type': 'application/json' }, '{}'),
      ),
    ).toThrow(/is not one of text\/plain/);
  });
});

describe(`real answers (KV_AUTH_TOKEN set, ${MAX_KEY_BYTES}-byte keys, ${MAX_VALUE_BYTES}-byte values, KV_MAX_KEYS=${MAX_KEYS})`, () => {
  let kv: KvCluster;

  conformanceCluster(TOKEN, MAX_KEYS, (started) => (kv = started));

  const expectConforms = conformance.expecter(() => kv, AUTH);

  const errorCode = (response: HttpResponse): string =>
    (JSON.parse(response.body) as { error: string }).error;

  it('GET /_/openapi.json serves this document as application/json, without the token', async () => {
    const response = await expectConforms(
      'get',
      '/_/openapi.json',
      '/_/openapi.json',
      200,
      {
        auth: false,
      },
    );
    expect(response.headers['content-type']).toBe('application/json');
    expect(JSON.parse(response.body)).toEqual(openApiJson);
    // Only that exact target is open, as for /_/health.
    await expectConforms('get', '/_/openapi.json', '/_/openapi.json?x=1', 401, {
      auth: false,
    });
    await expectConforms('get', '/_/health', '/_/health', 200, { auth: false });
    await expectConforms('get', '/_/health', '/_/health?x=1', 401, {
      auth: false,
    });
  });

  it("the worker's route table is every operation of the document, no more and no fewer", async () => {
    const line = await kv.waitForLine('"worker routes"', 10_000);
    const registered = (JSON.parse(line) as { routes: string[] }).routes.map(
      (route) => {
        const [method, url] = route.split(' ');
        return `${method!.toLowerCase()} ${url!.replace(/:([A-Za-z]+)/g, '{$1}')}`;
      },
    );
    const documented = document
      .operations()
      .map((op) => `${op.method} ${op.template}`);
    // Fastify answers HEAD on the GET routes; the document says so once rather than per route.
    const undocumented = registered.filter(
      (route) =>
        !documented.includes(route) &&
        !(
          route.startsWith('head ') &&
          documented.includes(route.replace(/^head/, 'get'))
        ),
    );
    expect(undocumented).toEqual([]);
    expect(documented.filter((route) => !registered.includes(route))).toEqual(
      [],
    );
    // As the document says: every GET route answers HEAD, but the watch stream.
    expect(
      documented.filter(
        (route) =>
          route.startsWith('get ') &&
          !registered.includes(route.replace(/^get/, 'head')),
      ),
    ).toEqual(['get /_/watch']);
  });

  it('GET and HEAD /{key}: 200, 304, 400, 401, 404, 414', async () => {
    // Strong, so that every replica has it: the reads below land on any worker.
    const put = await expectConforms(
      'put',
      '/{key}',
      '/read-me?consistency=strong',
      200,
      { body: '{"a": [1, 2]}' },
    );
    const etag = put.headers.etag!;
    for (const method of ['get', 'head'] as const) {
      const read = await expectConforms(method, '/{key}', '/read-me', 200);
      expect(read.headers.etag).toBe(etag);
      await expectConforms(
        method,
        '/{key}',
        '/read-me?consistency=strong',
        200,
      );
      await expectConforms(method, '/{key}', '/read-me', 304, {
        headers: { 'if-none-match': etag },
      });
      await expectConforms(method, '/{key}', '/never-written', 404);
      await expectConforms(method, '/{key}', '/read-me?consistency=bogus', 400);
      await expectConforms(method, '/{key}', '/_', 400);
      await expectConforms(method, '/{key}', '/%ZZ', 400);
      await expectConforms(
        method,
        '/{key}',
        `/${'k'.repeat(MAX_KEY_BYTES + 1)}`,
        414,
      );
      await expectConforms(method, '/{key}', '/read-me', 401, { auth: false });
    }
    const echoed = await expectConforms('get', '/{key}', '/read-me', 200, {
      headers: { 'x-request-id': 'trace-17' },
    });
    expect(echoed.headers['x-request-id']).toBe('trace-17');
  });

  it('PUT /{key} and /{key}/{ttl}: 200, 400, 401, 412, 413, 414, 415', async () => {
    for (const [template, path] of [
      ['/{key}', '/put-me'],
      ['/{key}/{ttl}', `/put-me/${LONG_TTL}`],
    ] as const) {
      const put = await expectConforms('put', template, path, 200, {
        body: '"v"',
      });
      await expectConforms('put', template, path, 200, {
        body: '"w"',
        headers: { 'if-match': put.headers.etag! },
      });
      await expectConforms('put', template, path, 412, {
        body: '"x"',
        headers: { 'if-match': '"999999999"' },
      });
      await expectConforms('put', template, path, 412, {
        body: '"x"',
        headers: { 'if-none-match': '*' },
      });
      const codes = new Set<string>();
      for (const [badPath, body] of [
        [path, '{"unclosed": '],
        [path, ''],
        [`${path}?consistency=bogus`, '1'],
        [path.replace('/put-me', '/_'), '1'],
        [path.replace('/put-me', '/%ZZ'), '1'],
      ] as const)
        codes.add(
          errorCode(
            await expectConforms('put', template, badPath, 400, { body }),
          ),
        );
      expect([...codes].sort()).toEqual(
        [
          'bad_url',
          'empty_body',
          'invalid_consistency',
          'invalid_json',
          'reserved_key',
        ].sort(),
      );
      await expectConforms('put', template, path, 413, {
        body: JSON.stringify('v'.repeat(MAX_VALUE_BYTES)),
      });
      await expectConforms(
        'put',
        template,
        path.replace('/put-me', `/${'k'.repeat(MAX_KEY_BYTES + 1)}`),
        414,
        { body: '1' },
      );
      await expectConforms('put', template, path, 415, {
        body: '1',
        headers: { 'content-type': 'text/plain' },
      });
      await expectConforms('put', template, path, 401, {
        body: '1',
        auth: false,
      });
    }
    for (const ttl of ['0', 'abc', '315360000001'])
      expect(
        errorCode(
          await expectConforms('put', '/{key}/{ttl}', `/put-me/${ttl}`, 400, {
            body: '1',
          }),
        ),
      ).toBe('invalid_ttl');
  });

  it('POST /{key} and /{key}/{ttl}: 200, 400, 401, 409, 413, 414, 415', async () => {
    for (const [template, path] of [
      ['/{key}', '/post-me'],
      ['/{key}/{ttl}', `/post-me-ttl/${LONG_TTL}`],
    ] as const) {
      await expectConforms('post', template, path, 200, {
        body: '[true, null]',
      });
      await expectConforms('post', template, path, 409, { body: '1' });
      await expectConforms('post', template, path, 400, { body: 'nope' });
      await expectConforms(
        'post',
        template,
        path.replace(/post-me(-ttl)?/, '_'),
        400,
        {
          body: '1',
        },
      );
      await expectConforms('post', template, path, 413, {
        body: JSON.stringify('v'.repeat(MAX_VALUE_BYTES)),
      });
      await expectConforms(
        'post',
        template,
        path.replace(/post-me(-ttl)?/, 'k'.repeat(MAX_KEY_BYTES + 1)),
        414,
        { body: '1' },
      );
      await expectConforms('post', template, path, 415, {
        body: '1',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      await expectConforms('post', template, path, 401, {
        body: '1',
        auth: false,
      });
    }
    await expectConforms('post', '/{key}/{ttl}', '/post-me-ttl/0', 400, {
      body: '1',
    });
  });

  it('DELETE /{key}: 200, 400, 401, 404, 412, 413, 414, 415', async () => {
    const put = await expectConforms('put', '/{key}', '/delete-me', 200, {
      body: '1',
    });
    await expectConforms('delete', '/{key}', '/delete-me', 412, {
      headers: {
        'if-match': `"${Number(put.headers.etag!.slice(1, -1)) + 1000}"`,
      },
    });
    const deleted = await expectConforms(
      'delete',
      '/{key}',
      '/delete-me',
      200,
      {
        headers: { 'if-match': put.headers.etag! },
      },
    );
    expect(deleted.headers.etag).toBeUndefined();
    await expectConforms('delete', '/{key}', '/delete-me', 404);
    await expectConforms(
      'delete',
      '/{key}',
      '/delete-me?consistency=bogus',
      400,
    );
    await expectConforms('delete', '/{key}', '/_', 400);
    await expectConforms('delete', '/{key}', '/%ZZ', 400);
    await expectConforms('delete', '/{key}', '/delete-me', 400, { body: '{' });
    await expectConforms('delete', '/{key}', '/delete-me', 413, {
      body: JSON.stringify('v'.repeat(MAX_VALUE_BYTES)),
    });
    await expectConforms(
      'delete',
      '/{key}',
      `/${'k'.repeat(MAX_KEY_BYTES + 1)}`,
      414,
    );
    await expectConforms('delete', '/{key}', '/delete-me', 415, {
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    await expectConforms('delete', '/{key}', '/delete-me', 401, {
      auth: false,
    });
  });

  it('the system endpoints: 200, and 401 without the token but for health and the document', async () => {
    for (const path of [
      '/_/health',
      '/_/stats',
      '/_/metrics',
      '/_/digest',
      '/_/openapi.json',
    ])
      await expectConforms('get', path, path, 200);
    for (const path of ['/_/stats', '/_/metrics', '/_/digest']) {
      const refused = await expectConforms('get', path, path, 401, {
        auth: false,
      });
      expect(refused.headers['www-authenticate']).toBe(
        'Bearer realm="fanout-kv"',
      );
      // Refused before the request id is set, as the document says.
      expect(refused.headers['x-request-id']).toBeUndefined();
      await expectConforms('get', path, path, 401, {
        headers: { authorization: 'Bearer another-token' },
        auth: false,
      });
    }
  });

  it("answers of Node's HTTP parser on every v1 operation: 400 bad_request, 408, 431", async () => {
    await conformance.checkParserAnswers(
      kv,
      AUTH,
      v1Operations.filter((op) => op.method !== 'head'),
      (op) => concretePath(op.template),
    );
  });

  it(`PUT and POST of a new key: 507 once ${MAX_KEYS} keys are live`, async () => {
    const { keys } = await kv.stats();
    for (let i = keys; i < MAX_KEYS; i++)
      await expectConforms(
        'post',
        '/{key}',
        `/fill-${i}?consistency=strong`,
        200,
        { body: '0' },
      );
    expect((await kv.stats()).keys).toBe(MAX_KEYS);
    await expectConforms('put', '/{key}', '/one-too-many', 507, { body: '1' });
    await expectConforms('post', '/{key}', '/one-too-many', 507, { body: '1' });
    await expectConforms(
      'put',
      '/{key}/{ttl}',
      `/one-too-many/${LONG_TTL}`,
      507,
      { body: '1' },
    );
    await expectConforms(
      'post',
      '/{key}/{ttl}',
      `/one-too-many/${LONG_TTL}`,
      507,
      { body: '1' },
    );
    // Updates still work.
    await expectConforms('put', '/{key}', `/fill-${MAX_KEYS - 1}`, 200, {
      body: '2',
    });
  });

  it('every documented answer of every v1 operation was checked, but those no request produces on purpose', () => {
    expect(
      conformance.unchecked(v1Operations, {
        health:
          'only while a replica loads or a worker stops (lifecycle.e2e-spec.ts)',
      }),
    ).toEqual([]);
  });
});
