import 'reflect-metadata';
import cluster from 'node:cluster';
import { ConfigError, loadConfig } from './config/config';
import { runPrimary } from './primary/run-primary';
import { runWorker } from './worker/run-worker';

/**
 * Chooses the role: the cluster primary owns the store and forks the workers; a worker serves
 * HTTP. Both read the same environment, checked here before anything starts.
 */
function main(): void {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`fanout-kv: bad configuration: ${error.message}\n`);
    process.exit(1);
  }
  const run = cluster.isPrimary ? runPrimary : runWorker;
  run(config).catch((error: unknown) => {
    process.stderr.write(
      `fanout-kv: ${cluster.isPrimary ? 'primary' : 'worker'} failed to start: ${String(error)}\n`,
    );
    process.exit(1);
  });
}

main();
