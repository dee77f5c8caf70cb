import { Injectable } from '@nestjs/common';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
} from 'prom-client';
import { PrimaryLink } from './primary-link';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** This worker's Prometheus metrics; the primary merges them with every other process's. */
@Injectable()
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly inFlight = new Gauge({
    name: 'kv_http_requests_in_flight',
    help: 'HTTP requests being handled.',
    registers: [this.registry],
  });
  readonly replicationLag = new Histogram({
    name: 'kv_replication_lag_seconds',
    help: 'Time from the primary publishing a batch to this replica applying it.',
    buckets: [
      0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05,
      0.1, 0.5, 1,
    ],
    registers: [this.registry],
  });
  readonly watchStreams = new Gauge({
    name: 'kv_watch_streams',
    help: 'Open watch streams (GET /_/watch).',
    registers: [this.registry],
  });
  readonly watchEvents = new Counter({
    name: 'kv_watch_events_sent_total',
    help: 'Watch events written to streams, one per event per stream.',
    registers: [this.registry],
  });
  /** Pages of `GET /_/keys` answered, by consistency. */
  readonly listPages = new Counter({
    name: 'kv_list_pages_total',
    help: 'Pages of keys answered by GET /_/keys, by consistency (eventual: this replica; strong: the primary).',
    labelNames: ['consistency'],
    registers: [this.registry],
  });
  /** Keys in the pages of `GET /_/keys` answered, by consistency. */
  readonly listKeys = new Counter({
    name: 'kv_list_keys_total',
    help: 'Keys in the pages answered by GET /_/keys, by consistency.',
    labelNames: ['consistency'],
    registers: [this.registry],
  });
  private readonly duration = new Histogram({
    name: 'kv_http_request_duration_seconds',
    help: 'HTTP request duration, by route, method and status class.',
    labelNames: ['route', 'method', 'status_class'],
    buckets: [
      0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5,
      1,
    ],
    registers: [this.registry],
  });
  private readonly children = new Map<string, Histogram.Internal<string>>();

  constructor(link: PrimaryLink) {
    new Gauge({
      name: 'kv_forward_queue_depth',
      help: 'Writes forwarded to the primary and not yet answered.',
      registers: [this.registry],
      collect() {
        this.set(link.pendingWrites);
      },
    });
    // Every series exists from the start, so a rate over it is defined before the first page.
    for (const consistency of ['eventual', 'strong']) {
      this.listPages.inc({ consistency }, 0);
      this.listKeys.inc({ consistency }, 0);
    }
    collectDefaultMetrics({
      register: this.registry,
      labels: { role: 'worker', pid: String(process.pid) },
    });
  }

  /**
   * Reports `bytes()`, what this worker's ordered index of keys takes, at every scrape, as the
   * primary reports its own (`kv_ordered_index_bytes`).
   */
  reportOrderedIndex(bytes: () => number): void {
    new Gauge({
      name: 'kv_ordered_index_bytes',
      help: 'Bytes the ordered index of keys (for GET /_/keys) takes in each process.',
      labelNames: ['role', 'pid'],
      registers: [this.registry],
      collect() {
        this.set({ role: 'worker', pid: String(process.pid) }, bytes());
      },
    });
  }

  /** Records one finished request; `seconds` from its first byte to its last. */
  observeRequest(
    route: string,
    method: string,
    status: number,
    seconds: number,
  ): void {
    const statusClass = STATUS_CLASSES[Math.floor(status / 100) - 1] ?? 'other';
    const id = `${route} ${method} ${statusClass}`;
    let child = this.children.get(id);
    if (child === undefined) {
      child = this.duration.labels(route, method, statusClass);
      this.children.set(id, child);
    }
    child.observe(seconds);
  }
}
