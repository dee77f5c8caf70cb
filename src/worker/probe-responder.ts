import { Injectable } from '@nestjs/common';
import { memoryFigures, MessageType, Probe, WorkerStats } from '../protocol';
import { PrimaryLink } from './primary-link';
import { ReplicaService } from './replica-service';
import { WorkerMetrics } from './worker-metrics';

/**
 * Answers the primary's probes of this worker: its metrics, its replica's digest and its
 * memory. The primary asks every worker when a client calls `/_/metrics`, `/_/digest` or
 * `/_/stats`, on whichever worker, and merges the answers.
 */
@Injectable()
export class ProbeResponder {
  constructor(
    private readonly link: PrimaryLink,
    private readonly replica: ReplicaService,
    private readonly metrics: WorkerMetrics,
  ) {
    link.on<Probe>(MessageType.Probe, (probe) => this.answer(probe));
  }

  private answer(probe: Probe): void {
    const answer = (body: unknown): void =>
      this.link.send({ type: MessageType.ProbeAnswer, id: probe.id, body });
    switch (probe.kind) {
      case 'metrics':
        void this.metrics.registry.getMetricsAsJSON().then(answer);
        return;
      case 'digest':
        void this.replica
          .digest()
          .then((digest) => answer({ pid: process.pid, ...digest }));
        return;
      case 'stats':
        return answer({ memory: memoryFigures() } satisfies WorkerStats);
    }
  }
}
