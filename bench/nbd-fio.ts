export { scenarios } from '../host/nbd/bench.ts';
