import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import cluster, { Address, Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { CONFIG, LOGGER } from '../config/config.module';
import { EXIT_CANNOT_LISTEN } from '../config/exit-codes';
import { encodeMessage, MessageType, WORKER_STDIO } from '../protocol';
import { PrimaryMetrics } from './primary-metrics';
import { ReplicaSet } from './replica-set';
import { StrongWriteWaiters } from './strong-write-waiters';
import { WorkerMessages } from './worker-messages';

// A worker that dies sooner than this after its fork counts as crash-looping.
const QUICK_DEATH_MS = 10_000;
const RESTART_BASE_MS = 100;
const RESTART_MAX_MS = 10_000;

/**
 * Forks the workers, forks a new one for each that dies (backing off while they keep dying
 * young), and runs the graceful shutdown.
 */
@Injectable()
export class ClusterSupervisor implements OnApplicationBootstrap {
  private stopping = false;
  private quickDeaths = 0;
  // Ids of the current workers that listen on the port; the URL is announced once all do.
  private readonly listening = new Set<number>();
  private announced = false;
  private onAllExited: (() => void) | undefined;

  constructor(
    private readonly replicas: ReplicaSet,
    private readonly messages: WorkerMessages,
    private readonly strongWrites: StrongWriteWaiters,
    private readonly metrics: PrimaryMetrics,
    @Inject(CONFIG) private readonly config: Config,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  onApplicationBootstrap(): void {
    cluster.setupPrimary({ stdio: WORKER_STDIO });
    for (let i = 0; i < this.config.workers; i++) this.fork();
  }

  /**
   * Asks every worker to stop accepting, finish its requests and exit; resolves when all
   * have, or kills the rest after `shutdownTimeoutMs`.
   */
  shutdown(): Promise<void> {
    this.stopping = true;
    if (this.replicas.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.logger.warn(
          { workers: this.replicas.size },
          'workers did not exit in time; killing them',
        );
        for (const link of this.replicas.all())
          link.worker.process.kill('SIGKILL');
      }, this.config.shutdownTimeoutMs);
      this.onAllExited = () => {
        clearTimeout(timer);
        resolve();
      };
      const bytes = encodeMessage({ type: MessageType.Shutdown });
      for (const link of this.replicas.all()) this.replicas.send(link, bytes);
    });
  }

  private fork(): void {
    const started = performance.now();
    const worker = cluster.fork();
    // fork() copies this process's page tables, so its cost grows with the store's RSS, and the
    // event loop waits for it (docs/performance.md has the figures).
    this.logger.info(
      { worker: worker.process.pid, forkMs: performance.now() - started },
      'worker forked',
    );
    const link = this.replicas.add(worker, (from, payload) =>
      this.messages.handle(from, payload),
    );
    worker.on('error', (error) =>
      this.logger.warn(
        { worker: link.pid, err: error },
        'worker channel error',
      ),
    );
    worker.on('listening', (address: Address) =>
      this.onListening(worker, address),
    );
    worker.on('exit', (code, signal) =>
      this.onExit(worker, link.forkedAt, code, signal),
    );
  }

  private onListening(worker: Worker, address: Address): void {
    this.listening.add(worker.id);
    if (this.announced || this.listening.size < this.config.workers) return;
    this.announced = true;
    const { host, workers, authToken } = this.config;
    const { port } = address;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.logger.info({ host, port, workers }, `fanout-kv serving on ${url}`);
    if (authToken === undefined) {
      this.logger.warn(
        'KV_AUTH_TOKEN is not set: the server is open to anyone who can reach it',
      );
    }
  }

  private onExit(
    worker: Worker,
    forkedAt: number,
    code: number | null,
    signal: string | null,
  ): void {
    this.replicas.remove(worker);
    this.listening.delete(worker.id);
    // A dead worker no longer holds back strong writes.
    this.strongWrites.release();
    if (code === EXIT_CANNOT_LISTEN && !this.stopping) {
      this.logger.fatal(
        { port: this.config.port, host: this.config.host },
        'a worker cannot listen on the configured address; stopping',
      );
      void this.shutdown().then(() => process.exit(1));
      return;
    }
    if (this.stopping) {
      this.logger.info(
        { worker: worker.process.pid, code, signal },
        'worker exited',
      );
      if (this.replicas.size === 0) this.onAllExited?.();
      return;
    }
    this.quickDeaths =
      performance.now() - forkedAt < QUICK_DEATH_MS ? this.quickDeaths + 1 : 0;
    const delay =
      this.quickDeaths === 0
        ? 0
        : Math.min(
            RESTART_MAX_MS,
            RESTART_BASE_MS * 2 ** (this.quickDeaths - 1),
          );
    this.logger.warn(
      { worker: worker.process.pid, code, signal, restartInMs: delay },
      'worker died; forking a new one',
    );
    this.metrics.restarts.inc();
    setTimeout(() => {
      if (!this.stopping) this.fork();
    }, delay);
  }
}
