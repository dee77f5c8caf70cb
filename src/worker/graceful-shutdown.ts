import type { INestApplicationContext } from '@nestjs/common';
import type { Logger } from 'pino';
import type { Config } from '../config/config';
import { LOGGER } from '../config/config.module';
import { MessageType } from '../protocol';
import { PrimaryLink } from './primary-link';
import { ReplicaService } from './replica-service';
import { WorkerState } from './worker-state';

/**
 * Stops `app` when the primary tells this worker to, or on SIGTERM or SIGINT, whichever comes
 * first: it stops taking requests and finishes those in flight (health answers 503 meanwhile,
 * watch streams end), then exits once the application is closed, or after
 * `shutdownTimeoutMs` whatever is left. Call once, before the application listens.
 */
export function installGracefulShutdown(
  app: INestApplicationContext,
  config: Config,
): void {
  const link = app.get(PrimaryLink);
  const replica = app.get(ReplicaService);
  const state = app.get(WorkerState);
  const logger = app.get<Logger>(LOGGER);
  const stop = (): void => {
    if (state.stopping) return;
    state.stopping = true;
    logger.info(
      { pendingWrites: link.pendingWrites, revision: replica.revision },
      'worker stopping: finishing in-flight requests',
    );
    setTimeout(() => process.exit(0), config.shutdownTimeoutMs).unref();
    void app.close().then(() => process.exit(0));
  };
  link.on(MessageType.Shutdown, stop);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
