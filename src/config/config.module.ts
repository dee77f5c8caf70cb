import { DynamicModule, Global, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { Config } from './config';
import { createLogger } from './logger';

/** Injection token of the frozen {@link Config}. */
export const CONFIG = Symbol('Config');
/** Injection token of the process's pino {@link Logger}. */
export const LOGGER = Symbol('Logger');

/**
 * Provides the {@link Config} that `main.ts` read once, and the process's logger (see
 * {@link createLogger}).
 */
@Global()
@Module({})
export class ConfigModule {
  static register(config: Config, role: 'primary' | 'worker'): DynamicModule {
    const logger: Logger = createLogger(config, role);
    return {
      module: ConfigModule,
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
      ],
      exports: [CONFIG, LOGGER],
    };
  }
}
