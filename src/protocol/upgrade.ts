// The HTTP side of accepting a WebSocket, shared by both daemons' servers
// (the device channel and the two control channels): parse the request
// target, check the token (PROTOCOL.md "Transport": `Authorization: Bearer
// TOKEN` or `?token=TOKEN`), and refuse on the raw socket with a real HTTP
// status before any WebSocket exists (RFC 6455 §4.2.2: a non-101 answer).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** SHA-256 of a token: compared in constant time, and equal-length whatever the token. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The upgrade request's target as a URL (path and query), or undefined if it does not parse. */
export function upgradeUrl(req: IncomingMessage): URL | undefined {
  try {
    return new URL(req.url ?? '/', 'http://x');
  } catch {
    return undefined;
  }
}

/**
 * Whether the request presents the token whose digest is `want`: a Bearer
 * Authorization header wins over `?token=`; neither is a refusal.
 */
export function presentsToken(req: IncomingMessage, url: URL, want: Buffer): boolean {
  const h = req.headers.authorization;
  const bearer = /^bearer\s+/i;
  const given = typeof h === 'string' && bearer.test(h) ? h.replace(bearer, '').trim() : (url.searchParams.get('token') ?? undefined);
  return given !== undefined && timingSafeEqual(tokenDigest(given), want);
}

/** Answer an upgrade with an HTTP error and close the socket. `extra` is whole header lines (each ending in CRLF). */
export function refuseUpgrade(socket: Duplex, status: number, text: string, extra = ''): void {
  socket.once('finish', () => socket.destroy());
  socket.end(`HTTP/1.1 ${status} ${text}\r\n${extra}Connection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text) + 1}\r\n\r\n${text}\n`);
}
