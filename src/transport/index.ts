export { BandwidthLimit } from './bwlimit.js';
