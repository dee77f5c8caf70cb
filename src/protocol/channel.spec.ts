import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FrameChannel } from './channel';

interface End {
  channel: FrameChannel;
  frames: Uint8Array[];
  closed: Promise<Error | undefined>;
  socket: Socket;
}

function end(socket: Socket): End {
  const frames: Uint8Array[] = [];
  let closed!: (error: Error | undefined) => void;
  const promise = new Promise<Error | undefined>((r) => (closed = r));
  const channel = new FrameChannel(socket, {
    onFrame: (payload) => frames.push(payload),
    onClose: closed,
  });
  return { channel, frames, closed: promise, socket };
}

/** Two channels joined by a Unix socket, as the primary and a worker are. */
async function pair(): Promise<[End, End, () => void]> {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-channel-'));
  const path = join(dir, 'sock');
  const server: Server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const client = connect(path);
  const [serverSide] = (await accepted) as [Socket];
  await once(client, 'connect');
  const cleanup = (): void => {
    client.destroy();
    serverSide.destroy();
    server.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return [end(serverSide), end(client), cleanup];
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setImmediate(r));
}

describe('FrameChannel over a Unix socket', () => {
  let cleanup: () => void = () => undefined;
  afterEach(() => cleanup());

  it('delivers every frame, in order, whole, however the socket splits them', async () => {
    const [primary, worker, done] = await pair();
    cleanup = done;
    const big = new Uint8Array(3 << 20).map((_, i) => i % 251);
    const sent = [
      [Uint8Array.of(1)],
      [Uint8Array.of(2, 3), Uint8Array.of(4)],
      [big],
      [Uint8Array.of(5)],
    ];
    for (const parts of sent) primary.channel.send(parts);
    await until(() => worker.frames.length === sent.length);
    expect(worker.frames.slice(0, 2).map((f) => [...f])).toEqual([
      [1],
      [2, 3, 4],
    ]);
    expect(Buffer.compare(worker.frames[2]!, big)).toBe(0);
    expect([...worker.frames[3]!]).toEqual([5]);
  });

  it('reports a backlog while the peer does not read, and drains when it does', async () => {
    const [primary, worker, done] = await pair();
    cleanup = done;
    worker.socket.pause();
    let accepted = true;
    let sent = 0;
    while (accepted) {
      accepted = primary.channel.send(new Uint8Array(64 * 1024));
      sent++;
    }
    expect(primary.channel.backlogBytes).toBeGreaterThan(0);
    const drained = new Promise<void>((r) => primary.channel.onDrain(r));
    worker.socket.resume();
    await drained;
    await until(() => worker.frames.length === sent);
    expect(primary.channel.backlogBytes).toBe(0);
  });

  it('reports the close when the peer goes away, and refuses frames after it', async () => {
    const [primary, worker, done] = await pair();
    cleanup = done;
    worker.socket.destroy();
    await primary.closed;
    expect(primary.channel.open).toBe(false);
    let written = false;
    expect(primary.channel.send(Uint8Array.of(1), () => (written = true))).toBe(
      false,
    );
    await until(() => written);
  });
});
