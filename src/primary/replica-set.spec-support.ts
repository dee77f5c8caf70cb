import type { Worker } from 'node:cluster';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Config } from '../config/config';
import { CHANNEL_FD, decodeFrame, FrameReader, Message } from '../protocol';
import { ReplicaLink, ReplicaSet } from './replica-set';

/** A {@link ReplicaSet} that logs nothing, with `config`'s limits. */
export function quietReplicaSet(config: Config): ReplicaSet {
  return new ReplicaSet(config, pino({ level: 'silent' }));
}

/** A worker in the set, whose channel decodes every frame sent to it. */
export interface FakeReplica {
  readonly link: ReplicaLink;
  readonly worker: Worker;
  /** Every message the primary sent this worker, in order. */
  readonly received: Message[];
  /** Signals sent to the worker's process: a recycled worker gets SIGKILL. */
  readonly signals: string[];
}

/**
 * Adds a stand-in for a forked worker to `replicas`: no process, a channel that decodes what the
 * primary writes to it. The replica is live, as one that finished its snapshot.
 */
export function addLiveReplica(replicas: ReplicaSet, id: number): FakeReplica {
  const received: Message[] = [];
  const signals: string[] = [];
  const reader = new FrameReader();
  const channel = new Writable({
    write(piece: Buffer, _encoding, done) {
      for (const payload of reader.push(piece))
        received.push(...decodeFrame(payload));
      done();
    },
  });
  const stdio: unknown[] = [];
  stdio[CHANNEL_FD] = channel;
  const kill = (signal: string): void => {
    signals.push(signal);
  };
  const worker = {
    id,
    process: { pid: 1000 + id, stdio, kill },
  } as unknown as Worker;
  const link = replicas.add(worker, () => {});
  link.live = true;
  return { link, worker, received, signals };
}
