import { DynamicModule, Global, Module } from '@nestjs/common';
import pino, { Logger } from 'pino';
import { Config } from './config';

/** Injection token of the frozen {@link Config}. */
export const CONFIG = Symbol('Config');
/** Injection token of the process's pino {@link Logger}. */
export const LOGGER = Symbol('Logger');

/**
 * Provides the {@link Config} that `main.ts` read once, and a JSON logger tagged with the
 * process's role and pid.
 */
@Global()
@Module({})
export class ConfigModule {
  static register(config: Config, role: 'primary' | 'worker'): DynamicModule {
    const logger: Logger = pino({
      level: config.logLevel,
      base: { role, pid: process.pid },
    });
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
