import { Controller, Get, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { PrimaryLink } from '../primary-link';
import { ReplicaService } from '../replica-service';
import { WorkerState } from '../worker-state';
import { Errors } from './http-errors';
import { sendError, sendJson } from './http-reply';
import openApiDocument from './openapi.json';

// Serialized once: the document never changes while the server runs.
const OPENAPI_TEXT = JSON.stringify(openApiDocument);

/**
 * The system endpoints under `/_/`: health, cluster stats, digests, metrics and the OpenAPI
 * document.
 */
@Controller('_')
export class SystemController {
  constructor(
    private readonly replica: ReplicaService,
    private readonly primary: PrimaryLink,
    private readonly state: WorkerState,
  ) {}

  @Get('health')
  health(@Res() reply: FastifyReply): void {
    if (this.state.stopping)
      return sendError(
        reply,
        Errors.unavailable('this worker is shutting down'),
      );
    if (!this.replica.live)
      return sendError(
        reply,
        Errors.unavailable('the replica is still loading'),
      );
    sendJson(reply, 200, '{"status":"ok"}');
  }

  /**
   * The primary's figures and every worker's (as the primary last heard), plus the answering
   * worker's pid and the revision its replica holds right now.
   */
  @Get('stats')
  async stats(@Res() reply: FastifyReply): Promise<void> {
    const cluster = (await this.primary.query('stats')) as object;
    sendJson(
      reply,
      200,
      JSON.stringify({
        ...cluster,
        pid: process.pid,
        worker: { pid: process.pid, revision: this.replica.revision },
      }),
    );
  }

  @Get('digest')
  async digest(@Res() reply: FastifyReply): Promise<void> {
    sendJson(reply, 200, JSON.stringify(await this.primary.query('digest')));
  }

  @Get('metrics')
  async metrics(@Res() reply: FastifyReply): Promise<void> {
    const text = (await this.primary.query('metrics')) as string;
    reply.code(200).type('text/plain; version=0.0.4; charset=utf-8').send(text);
  }

  /** The OpenAPI 3.1 description of the API (src/worker/http/openapi.json). */
  @Get('openapi.json')
  openapi(@Res() reply: FastifyReply): void {
    sendJson(reply, 200, OPENAPI_TEXT);
  }
}
