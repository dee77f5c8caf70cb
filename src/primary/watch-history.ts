import { Inject, Injectable } from '@nestjs/common';
import { Config } from '../config/config';
import { CONFIG } from '../config/config.module';
import { HistoryChanges, HistoryRequest, MessageType } from '../protocol';
import { AuthoritativeStore, ChangeBatch, ChangeHistory } from '../store';

// An answer holds whole revisions up to about this many bytes (by the history's estimate);
// the worker asks again for the rest, so no single message grows with the backlog.
const ANSWER_BYTES = 1 << 20;

/**
 * The primary's copy of the watch history: every batch it publishes, with the same limits as
 * each worker's. A worker forked a moment ago holds no history from before its snapshot, so a
 * watcher that resumes there from an older revision is served from here, and a `from` too old
 * for this history is too old for every worker.
 */
@Injectable()
export class WatchHistory {
  private readonly history: ChangeHistory;

  constructor(
    private readonly store: AuthoritativeStore,
    @Inject(CONFIG) config: Config,
  ) {
    this.history = new ChangeHistory({
      maxRevisions: config.watchHistory,
      maxBytes: config.watchHistoryBytes,
    });
  }

  /** Keeps `batch`, just taken from the store. */
  record(batch: ChangeBatch): void {
    // A store restored from disk starts past revision 0 with no history behind it.
    if (this.history.newest !== batch.from - 1)
      this.history.reset(batch.from - 1);
    this.history.append(batch.changes);
  }

  /** The answer to a worker's {@link HistoryRequest}. */
  answer(request: HistoryRequest): HistoryChanges {
    if (this.history.newest !== this.store.publishedRevision)
      this.history.reset(this.store.publishedRevision);
    const { after, upTo } = request;
    return {
      type: MessageType.HistoryChanges,
      id: request.id,
      revision: this.store.revision,
      oldest: this.history.oldest,
      changes:
        upTo > after && this.history.covers(after)
          ? this.history.slice(after, upTo, ANSWER_BYTES)
          : [],
    };
  }
}
