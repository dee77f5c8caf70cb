import {
  Inject,
  Injectable,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { AuthoritativeStore } from '../store';
import { ReconcileLoop } from './reconcile-loop';

// Keys reaped per pass; more wait for the next turn, so a mass expiry never blocks the loop.
const REAP_LIMIT = 10_000;

/**
 * The TTL loop: deletes expired keys from the authoritative store on a fixed interval and
 * publishes the deletes. Replicas hide expired keys by themselves; this frees the memory.
 */
@Injectable()
export class ExpiryLoop implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: AuthoritativeStore,
    private readonly reconcileLoop: ReconcileLoop,
    @Inject(CONFIG) private readonly config: Config,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => this.reap(), this.config.ttlIntervalMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  private reap(): void {
    const reaped = this.store.reapExpired(REAP_LIMIT);
    if (reaped === 0) return;
    this.reconcileLoop.schedule();
    if (reaped === REAP_LIMIT) setImmediate(() => this.reap());
  }
}
