import { Inject, Injectable } from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { AuthoritativeStore, Revision } from '../store';
import { ReplicaLink, ReplicaSet } from './replica-set';

// How many recent batches are remembered for lag in milliseconds.
const PUBLISH_HISTORY = 1024;

/**
 * How far each replica is behind what the primary has published: the lag in milliseconds
 * (from when each recent batch went out) and, past `maxReplicaLag` revisions, the recycling
 * of its worker.
 */
@Injectable()
export class ReplicaLag {
  // The last revision of each recent batch, and when it was published (`performance.now()`).
  private readonly recent: { end: Revision; at: number }[] = [];

  constructor(
    private readonly store: AuthoritativeStore,
    private readonly replicas: ReplicaSet,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  /** Notes that the batch whose last revision is `end` was published just now. */
  recordPublished(end: Revision): void {
    this.recent.push({ end, at: performance.now() });
    if (this.recent.length > PUBLISH_HISTORY) this.recent.shift();
  }

  /** Milliseconds since the first batch `link` has not applied was published; 0 when caught up. */
  lagMs(link: ReplicaLink): number {
    if (link.applied >= this.store.publishedRevision) return 0;
    const first = this.recent.find((p) => p.end > link.applied);
    return first === undefined ? 0 : performance.now() - first.at;
  }

  /** Recycles every live replica more than `maxReplicaLag` revisions behind. */
  recycleLaggards(): void {
    const floor = this.store.publishedRevision - this.config.maxReplicaLag;
    for (const link of this.replicas.all()) {
      if (link.live && link.applied < floor) {
        this.replicas.recycle(
          link,
          'replica lag over KV_MAX_REPLICA_LAG revisions',
        );
      }
    }
  }
}
