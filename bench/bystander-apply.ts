/**
 * `npm run bench:apply`: what one write costs a bystander replica, one that applies other
 * workers' writes without answering any, in isolation: decoding the batch frame, then applying
 * its changes to a {@link ReplicaStore}, in CPU microseconds per write, by batch size. The
 * writes are the seed profile's: new keys of about 20 bytes with a 16-byte value.
 *
 * Flags: --writes N (400000) --preload N (1000000)
 */
import { parseArgs } from 'node:util';
import { decodeFrame, encodeMessage, MessageType } from '../src/protocol';
import { Change, ReplicaStore } from '../src/store';

const { values: flags } = parseArgs({
  options: {
    writes: { type: 'string', default: '400000' },
    preload: { type: 'string', default: '1000000' },
  },
});
const writes = Number(flags.writes);
const preload = Number(flags.preload);

const cpuUs = (): number => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

function frames(batchSize: number, firstRevision: number): Buffer[] {
  const out: Buffer[] = [];
  let revision = firstRevision;
  for (let done = 0; done < writes; done += batchSize) {
    const changes: Change[] = [];
    for (let i = 0; i < batchSize; i++, revision++) {
      changes.push({
        key: `${1 + (revision % 9973)}-${1 + (revision % 7919)}-seed${revision}`,
        value: `{"prop":"/${revision % 10000}"}`,
        deadline: 0,
        revision,
        expired: false,
      });
    }
    out.push(
      encodeMessage({
        type: MessageType.Batch,
        from: changes[0]!.revision,
        publishedAt: 0,
        ack: false,
        changes,
      }),
    );
  }
  return out;
}

function freshReplica(): ReplicaStore {
  const replica = new ReplicaStore();
  replica.beginSnapshot(0);
  replica.endSnapshot();
  for (const frame of frames(1000, 1).slice(0, preload / 1000))
    applyFrame(replica, frame);
  return replica;
}

function applyFrame(replica: ReplicaStore | undefined, frame: Buffer): void {
  for (const message of decodeFrame(frame))
    if (replica !== undefined && message.type === MessageType.Batch)
      replica.applyBatch(message);
}

/**
 * Decoding alone, then decoding and applying on a fresh replica, each frame dropped once
 * handled as a worker drops it; applying costs the difference.
 */
function measure(batchSize: number): void {
  const replica = freshReplica();
  const encoded = frames(batchSize, replica.revision + 1);
  const decodeStart = cpuUs();
  for (const frame of encoded) applyFrame(undefined, frame);
  const decodeUs = cpuUs() - decodeStart;
  const bothStart = cpuUs();
  for (const frame of encoded) applyFrame(replica, frame);
  const applyUs = cpuUs() - bothStart - decodeUs;
  const count = encoded.length * batchSize;
  console.log(
    `| ${batchSize} | ${(decodeUs / count).toFixed(2)} | ${(applyUs / count).toFixed(2)} | ${((decodeUs + applyUs) / count).toFixed(2)} |`,
  );
}

console.log(
  `bystander replica, ${writes} writes per batch size over ${preload} keys already applied`,
);
console.log('| changes per batch | decode µs/write | apply µs/write | total |');
console.log('| --- | --- | --- | --- |');
for (const size of [1, 4, 16, 64]) measure(size);
