import type { Socket } from 'node:net';
import { encodeFrame, FrameReader } from './framing';

/** In a worker, the file descriptor of its channel to the primary (see {@link WORKER_STDIO}). */
export const CHANNEL_FD = 4;

/**
 * The stdio of a forked worker: the primary's own 0 to 2, Node's IPC channel at 3 (node:cluster
 * still needs it for its own messages: listening, handing over connections), and the channel
 * this protocol runs on, a Unix socket pair, at {@link CHANNEL_FD}.
 *
 * Why not `process.send`: with 'advanced' serialization it builds a V8 serializer per message
 * and a deserializer per message received, each a weakly held native object, and the garbage
 * collector finalizes them in its young-generation pauses, which under heavy write traffic made
 * the primary's scavenges several times longer (see docs/performance.md); over a socket a frame
 * costs its bytes and nothing else.
 */
export const WORKER_STDIO = ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'];

/** What a {@link FrameChannel} reports to its owner. */
export interface ChannelHandlers {
  /** Called with the payload of each frame, in order (decode it with `decodeFrame`). */
  onFrame(payload: Uint8Array): void;
  /** Called once when the socket closes, with the error that closed it if there was one. */
  onClose(error: Error | undefined): void;
}

/** One end of the primary–worker channel: frames over a stream socket, with backpressure. */
export class FrameChannel {
  private readonly reader = new FrameReader();
  private error: Error | undefined;

  constructor(
    private readonly socket: Socket,
    handlers: ChannelHandlers,
  ) {
    socket.on('data', (piece: Buffer) => {
      for (const payload of this.reader.push(piece)) handlers.onFrame(payload);
    });
    // A peer that dies leaves EPIPE or ECONNRESET here; 'close' follows and reports it.
    socket.on('error', (error) => {
      this.error = error;
    });
    socket.on('close', () => handlers.onClose(this.error));
  }

  /** Whether frames can still be sent. */
  get open(): boolean {
    return this.socket.writable;
  }

  /** Bytes of frames accepted by {@link send} and not yet written to the socket. */
  get backlogBytes(): number {
    return this.socket.writableLength;
  }

  /**
   * Sends one frame whose payload is `parts` (one or more encoded messages) laid end to end.
   * `onWritten` runs once the socket has written it, or has failed to because the channel
   * closed. Returns false when the backlog is over the socket's high-water mark: send no more
   * until {@link onDrain} (sending anyway only buffers more).
   */
  send(
    parts: Uint8Array | readonly Uint8Array[],
    onWritten?: () => void,
  ): boolean {
    if (!this.socket.writable) {
      if (onWritten !== undefined) setImmediate(onWritten);
      return false;
    }
    return this.socket.write(
      parts instanceof Uint8Array ? encodeFrame(parts) : encodeFrame(...parts),
      onWritten,
    );
  }

  /** Calls `listener` once, when the backlog has been written after {@link send} returned false. */
  onDrain(listener: () => void): void {
    this.socket.once('drain', listener);
  }
}
