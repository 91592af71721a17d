export { FrameChannel, peerError } from './channel.js';
export { FrameDecoder, FrameEncoder, MREC, MREC_NAME, STREAM_VERSION, encodeFrame, decodeFrameBody, type Frame, type WatchedFrame, FrameWatcher,
  type HelloMsg } from './frame.js';
export { MirrorReader, type ReaderOptions, type ReaderProgress, type ReaderResult } from './reader.js';
export { MirrorWriter, type TargetResolver, type WriterOptions, type WriterProgress, type WriterResult } from './writer.js';
export { formatFrame } from './dump.js';
export { relay, silent, type Endpoint, type LocalSource, type RelayOptions, type RelayState } from './relay.js';
