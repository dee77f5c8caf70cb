/**
 * The benchmark's baseline: the simplest server with the same routes, one process, one Map.
 * It validates nothing it need not and replicates nothing; fanout-kv is measured against it.
 */
import Fastify, { FastifyReply, FastifyRequest } from 'fastify';

const store = new Map<string, string>();
const app = Fastify({ routerOptions: { maxParamLength: 2048 } });
app.removeAllContentTypeParsers();
app.addContentTypeParser(
  'application/json',
  { parseAs: 'string' },
  (_req, body, done) => {
    try {
      JSON.parse(body as string);
      done(null, body);
    } catch (error) {
      done(error as Error);
    }
  },
);

type Params = { key: string; ttl?: string };
type Req = FastifyRequest<{ Params: Params }>;
const ack = (key: string): string =>
  JSON.stringify({ key, revision: store.size });

app.get('/:key', (req: Req, reply) => {
  const value = store.get(req.params.key);
  if (value === undefined)
    return reply.code(404).send({ error: 'key_not_found' });
  return reply.header('content-type', 'application/json').send(value);
});
const create = (req: Req, reply: FastifyReply): FastifyReply => {
  if (store.has(req.params.key))
    return reply.code(409).send({ error: 'key_exists' });
  store.set(req.params.key, req.body as string);
  return reply
    .header('content-type', 'application/json')
    .send(ack(req.params.key));
};
const put = (req: Req, reply: FastifyReply): FastifyReply => {
  store.set(req.params.key, req.body as string);
  return reply
    .header('content-type', 'application/json')
    .send(ack(req.params.key));
};
app.post('/:key', create);
app.post('/:key/:ttl', create);
app.put('/:key', put);
app.put('/:key/:ttl', put);
app.delete('/:key', (req: Req, reply) =>
  store.delete(req.params.key)
    ? reply.header('content-type', 'application/json').send(ack(req.params.key))
    : reply.code(404).send({ error: 'key_not_found' }),
);

app
  .listen({ port: Number(process.env.PORT ?? 3001), host: '127.0.0.1' })
  .then(() => process.send?.('ready'))
  .catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
