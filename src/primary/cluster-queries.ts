import { Injectable } from '@nestjs/common';
import {
  AggregatorRegistry,
  MetricObjectWithValues,
  MetricValue,
} from 'prom-client';
import {
  encodeMessage,
  memoryFigures,
  MessageType,
  QueryKind,
  WorkerStats,
} from '../protocol';
import { AuthoritativeStore, SlicedDigest } from '../store';
import { PrimaryMetrics } from './primary-metrics';
import { ReconcileLoop } from './reconcile-loop';
import { ReplicaLag } from './replica-lag';
import { ReplicaLink, ReplicaSet } from './replica-set';

// A worker that has not answered a probe by then is left out of the answer.
const PROBE_TIMEOUT_MS = 2000;
// A digest scans the whole replica a slice per turn, which takes a large one a while.
const DIGEST_PROBE_TIMEOUT_MS = 60_000;

// A probe out to the live workers: their answers, gathered until all came or it timed out.
interface PendingProbe {
  readonly answers: { pid: number; body: unknown }[];
  waiting: number;
  readonly done: () => void;
}

/**
 * Answers the system endpoints that need the whole cluster (/_/stats, /_/digest, /_/metrics):
 * the worker that got the HTTP request asks here, and the primary asks every live worker.
 */
@Injectable()
export class ClusterQueries {
  private nextProbeId = 1;
  private readonly probes = new Map<number, PendingProbe>();
  private readonly slicedDigest: SlicedDigest;

  constructor(
    private readonly store: AuthoritativeStore,
    private readonly replicas: ReplicaSet,
    private readonly reconcileLoop: ReconcileLoop,
    private readonly lag: ReplicaLag,
    private readonly metrics: PrimaryMetrics,
  ) {
    this.slicedDigest = new SlicedDigest(
      () => ({ table: store.table, revision: store.revision }),
      Date.now,
      () => new Promise((resolve) => setImmediate(resolve)),
    );
  }

  /** Answers query `id` of kind `kind` from `link`. */
  answer(link: ReplicaLink, id: number, kind: QueryKind): void {
    void this.build(kind).then((body) =>
      this.replicas.send(
        link,
        encodeMessage({ type: MessageType.QueryResult, id, body }),
      ),
    );
  }

  /** Takes a worker's answer to a probe. */
  onProbeAnswer(link: ReplicaLink, id: number, body: unknown): void {
    const probe = this.probes.get(id);
    if (probe === undefined) return;
    probe.answers.push({ pid: link.pid, body });
    if (--probe.waiting === 0) probe.done();
  }

  private async build(kind: QueryKind): Promise<unknown> {
    switch (kind) {
      case 'stats':
        return this.stats(await this.probe('stats'));
      case 'digest': {
        // Every worker gets the probe after the last batch, so with no writes coming in,
        // each scans the same data as the primary.
        this.reconcileLoop.flush();
        const own = this.slicedDigest.request();
        const workers = await this.probe('digest', DIGEST_PROBE_TIMEOUT_MS);
        return {
          ...(await own),
          workers: workers.map(({ pid, body }) => ({
            pid,
            ...(body as object),
          })),
        };
      }
      case 'metrics': {
        this.updateWorkerGauges();
        const workers = await this.probe('metrics');
        const all = [
          await this.metrics.registry.getMetricsAsJSON(),
          ...workers.map(
            (w) => w.body as MetricObjectWithValues<MetricValue<string>>[],
          ),
        ];
        return AggregatorRegistry.aggregate(all).metrics();
      }
    }
  }

  private stats(answers: { pid: number; body: unknown }[]): object {
    const keys = this.store.liveCount();
    if (this.store.hasPending) this.reconcileLoop.schedule();
    const own = new Map(
      answers.map(({ pid, body }) => [pid, body as WorkerStats]),
    );
    const workers = [...this.replicas.all()].map((link) => ({
      pid: link.pid,
      live: link.live,
      revision: link.applied,
      lag: {
        revisions: Math.max(0, this.store.revision - link.applied),
        ms: Math.round(this.lag.lagMs(link) * 1000) / 1000,
      },
      uptimeSeconds: Math.round(performance.now() - link.forkedAt) / 1000,
      memory: own.get(link.pid)?.memory,
    }));
    return {
      keys,
      revision: this.store.revision,
      primaryPid: process.pid,
      primary: {
        uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
        memory: memoryFigures(),
      },
      workers,
    };
  }

  private updateWorkerGauges(): void {
    this.metrics.workerApplied.reset();
    this.metrics.workerLagRevisions.reset();
    this.metrics.workerLagSeconds.reset();
    for (const link of this.replicas.all()) {
      this.metrics.workerLagSeconds.set(
        { pid: String(link.pid) },
        this.lag.lagMs(link) / 1000,
      );
      this.metrics.workerApplied.set({ pid: String(link.pid) }, link.applied);
      this.metrics.workerLagRevisions.set(
        { pid: String(link.pid) },
        Math.max(0, this.store.revision - link.applied),
      );
    }
  }

  private probe(
    kind: QueryKind,
    timeoutMs = PROBE_TIMEOUT_MS,
  ): Promise<{ pid: number; body: unknown }[]> {
    const links = [...this.replicas.all()].filter((link) => link.live);
    if (links.length === 0) return Promise.resolve([]);
    const id = this.nextProbeId++;
    return new Promise((resolve) => {
      const answers: { pid: number; body: unknown }[] = [];
      const timer = setTimeout(finish, timeoutMs);
      const probes = this.probes;
      function finish(): void {
        clearTimeout(timer);
        probes.delete(id);
        resolve(answers);
      }
      this.probes.set(id, { answers, waiting: links.length, done: finish });
      const bytes = encodeMessage({ type: MessageType.Probe, id, kind });
      for (const link of links) this.replicas.send(link, bytes);
    });
  }
}
