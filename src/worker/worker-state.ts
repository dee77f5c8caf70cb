import { Injectable } from '@nestjs/common';

/** Whether this worker is on its way out (health then answers 503). */
@Injectable()
export class WorkerState {
  stopping = false;
}
