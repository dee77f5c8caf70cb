import { NestFactory } from '@nestjs/core';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { Logger } from 'pino';
import { Config } from '../config/config';
import { LOGGER } from '../config/config.module';
import { EXIT_CANNOT_LISTEN } from '../config/exit-codes';
import { tuneHeapGrowth } from '../config/heap-growth';
import { installGracefulShutdown } from './graceful-shutdown';
import { createHttpAdapter, setUpHttpServer } from './http/http-server';
import { ReplicaService } from './replica-service';
import { WorkerModule } from './worker.module';

/**
 * Starts a worker: loads the replica from the primary, then serves HTTP on the shared port.
 * Exits at once if the primary goes away, so it never serves stale data on its own.
 */
export async function runWorker(config: Config): Promise<void> {
  tuneHeapGrowth();
  process.on('disconnect', () => process.exit(1));

  const app = await NestFactory.create<NestFastifyApplication>(
    WorkerModule.forRoot(config),
    createHttpAdapter(config),
    // Bodies go through the server's own parser (http/json-body-parser.ts); logs through pino.
    { bodyParser: false, logger: false },
  );
  const logger = app.get<Logger>(LOGGER);
  const routes = setUpHttpServer(app, config);
  installGracefulShutdown(app, config);

  const replica = app.get(ReplicaService);
  await app.init();
  await replica.start();
  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    process.stderr.write(`fanout-kv: worker cannot listen: ${String(error)}\n`);
    process.exit(EXIT_CANNOT_LISTEN);
  }
  logger.info({ revision: replica.revision }, 'worker listening');
  logger.debug({ routes }, 'worker routes');
}
