import {
  Agent,
  IncomingHttpHeaders,
  IncomingMessage,
  request as httpRequest,
} from 'node:http';
import { json, KvCluster, readResponse, Stats, waitFor } from './cluster';

/** One Server-Sent Event as a client reads it: data lines joined with LF. */
export interface SseEvent {
  readonly id: string | undefined;
  readonly event: string | undefined;
  readonly data: string;
  /** The event's text as it came, up to and including its blank line. */
  readonly raw: string;
}

/** The data of a watch event. */
export interface WatchData {
  revision: number;
  changes: {
    key: string;
    type: 'put' | 'delete' | 'expire';
    value?: unknown;
    expiresAt?: number | null;
  }[];
}

/**
 * A watch stream (`GET /_/watch`) on one keep-alive connection, read as it arrives: events,
 * ping comments, and how it ended. A 4xx answer is kept whole instead.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  pings = 0;
  /** Every byte of the body received, as text. */
  text = '';
  /** 'end': the server ended the response; 'aborted': the connection broke before that. */
  ended: 'end' | 'aborted' | undefined;
  private pending = '';

  constructor(
    /** The worker that served it. */
    readonly pid: number,
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    private readonly response: IncomingMessage,
    private readonly agent: Agent,
  ) {
    if (status !== 200) return;
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.receive(chunk));
    response.on('error', () => undefined);
    response.on('close', () => {
      this.ended ??= response.complete ? 'end' : 'aborted';
    });
  }

  /** The events' data, parsed. */
  get changes(): WatchData[] {
    return this.events.map((e) => JSON.parse(e.data) as WatchData);
  }

  /** The revisions of the events received, in order. */
  get revisions(): number[] {
    return this.events.map((e) => Number(e.id));
  }

  get lastId(): string | undefined {
    return this.events[this.events.length - 1]?.id;
  }

  /** Stops reading from the socket: the server's writes pile up. */
  pause(): void {
    this.response.pause();
  }

  resume(): void {
    this.response.resume();
  }

  close(): void {
    this.response.destroy();
    this.agent.destroy();
  }

  /** Waits until `predicate` holds, polling; the error names what was received. */
  async until(
    predicate: (stream: this) => boolean,
    timeoutMs: number,
    description: string,
  ): Promise<void> {
    await waitFor(() => predicate(this), timeoutMs, description).catch(
      (error: Error) => {
        throw new Error(
          `${error.message}; received ${this.events.length} events (last id ${this.lastId}), ended: ${this.ended}`,
        );
      },
    );
  }

  private receive(chunk: string): void {
    this.text += chunk;
    this.pending += chunk;
    for (;;) {
      const end = this.pending.indexOf('\n\n');
      if (end < 0) return;
      const raw = this.pending.slice(0, end + 2);
      this.pending = this.pending.slice(end + 2);
      this.parse(raw);
    }
  }

  private parse(raw: string): void {
    const lines = raw.slice(0, -2).split('\n');
    if (lines.every((line) => line.startsWith(':'))) {
      if (lines.some((line) => line === ': ping')) this.pings++;
      return;
    }
    let id: string | undefined;
    let event: string | undefined;
    const data: string[] = [];
    for (const line of lines) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const name = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (name === 'id') id = value;
      else if (name === 'event') event = value;
      else if (name === 'data') data.push(value);
    }
    this.events.push({ id, event, data: data.join('\n'), raw });
  }
}

/** A finished non-200 answer to a watch request. */
export interface WatchRefusal {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

export interface WatchOptions {
  readonly headers?: Record<string, string>;
  /** Only a worker this accepts serves the stream (judged by /_/stats on the connection). */
  readonly worker?: (pid: number) => boolean;
  readonly maxAttempts?: number;
}

/**
 * Opens `GET path` on a keep-alive connection served by a worker `options.worker` accepts.
 * Resolves once the head of a 200 arrived (the stream is subscribed), or with the whole answer
 * of anything else.
 */
export async function openWatch(
  kv: KvCluster,
  path: string,
  options: WatchOptions = {},
): Promise<SseStream | WatchRefusal> {
  const headers = options.headers ?? {};
  const accept = options.worker ?? (() => true);
  let last = '';
  for (let attempt = 0; attempt < (options.maxAttempts ?? 40); attempt++) {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const stats = await send(kv.port, agent, '/_/stats', headers);
      const body = await readResponse(stats);
      if (body.status !== 200)
        throw new Error(`/_/stats answered ${body.status}`);
      const pid = json<Stats>(body).pid;
      if (accept(pid)) {
        const response = await send(kv.port, agent, path, headers);
        if (response.statusCode === 200)
          return new SseStream(pid, 200, response.headers, response, agent);
        const answer = await readResponse(response);
        agent.destroy();
        return {
          status: answer.status,
          headers: answer.headers,
          body: answer.body,
        };
      }
      last = `served by ${pid}`;
    } catch (error) {
      last = (error as Error).message;
    }
    agent.destroy();
  }
  throw new Error(`no connection to a suitable worker (last: ${last})`);
}

/** {@link openWatch}, expecting a stream. */
export async function watch(
  kv: KvCluster,
  path: string,
  options: WatchOptions = {},
): Promise<SseStream> {
  const answer = await openWatch(kv, path, options);
  if (!(answer instanceof SseStream))
    throw new Error(
      `expected a stream for ${path}, got ${answer.status}: ${answer.body}`,
    );
  return answer;
}

function send(
  port: number,
  agent: Agent,
  path: string,
  headers: Record<string, string>,
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, headers, agent },
      (response) => {
        // Only the head has a deadline: a stream may be quiet for long.
        req.setTimeout(0);
        resolve(response);
      },
    );
    req.setTimeout(10_000, () =>
      req.destroy(new Error(`GET ${path}: no answer in time`)),
    );
    req.on('error', reject);
    req.end();
  });
}
