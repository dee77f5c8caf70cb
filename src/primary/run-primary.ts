import { NestFactory } from '@nestjs/core';
import { Config } from '../config/config';
import { tuneHeapGrowth } from '../config/heap-growth';
import { LOGGER } from '../config/config.module';
import { AuthoritativeStore } from '../store';
import { ClusterSupervisor } from './cluster-supervisor';
import { PrimaryModule } from './primary.module';
import type { Logger } from 'pino';

/**
 * Starts the primary: a Nest application context with no HTTP listener. It forks the workers
 * and, on SIGTERM or SIGINT, shuts them down gracefully and exits 0.
 */
export async function runPrimary(config: Config): Promise<void> {
  tuneHeapGrowth();
  const app = await NestFactory.createApplicationContext(
    PrimaryModule.forRoot(config),
    { logger: false },
  );
  const logger = app.get<Logger>(LOGGER);
  const store = app.get(AuthoritativeStore);
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    void app
      .get(ClusterSupervisor)
      .shutdown()
      .then(() => app.close())
      .then(() => {
        logger.info(
          {
            revision: store.revision,
            keys: store.table.size,
            uptimeSeconds: Math.round(process.uptime()),
          },
          'stopped',
        );
        process.exit(0);
      });
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
