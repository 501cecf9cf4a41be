// src/protocol/upgrade.ts: the token gate both daemons' WebSocket servers share.
import test from 'ava';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { presentsToken, refuseUpgrade, tokenDigest, upgradeUrl } from '../../src/protocol/upgrade.ts';

function req(url: string, authorization?: string): IncomingMessage {
  // Only the two fields the helpers read.
  return { url, headers: authorization === undefined ? {} : { authorization } } as unknown as IncomingMessage;
}

test('Bearer header or ?token= is accepted; a wrong, empty or missing token is not', (t) => {
  const want = tokenDigest('s3cret');
  const check = (url: string, auth?: string): boolean => {
    const r = req(url, auth);
    const u = upgradeUrl(r);
    return u !== undefined && presentsToken(r, u, want);
  };
  t.true(check('/', 'Bearer s3cret'));
  t.true(check('/', 'bearer   s3cret  '));
  t.true(check('/control?token=s3cret'));
  t.false(check('/', 'Bearer wrong'));
  t.false(check('/?token=s3cret', 'Bearer wrong'), 'the header wins over the query');
  t.false(check('/', 'Basic s3cret'));
  t.false(check('/'));
  t.false(check('/?token='));
});

test('an unparsable request target is undefined; refusals are whole HTTP responses', async (t) => {
  t.is(upgradeUrl(req('http://[bad')), undefined);
  t.is(upgradeUrl(req('/control?x=1'))?.pathname, '/control');
  const sock = new PassThrough();
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise<void>((res) => sock.on('end', res));
  refuseUpgrade(sock, 401, 'Unauthorized', 'WWW-Authenticate: Bearer realm="x"\r\n');
  await ended;
  const text = Buffer.concat(chunks).toString();
  t.true(text.startsWith('HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm="x"\r\nConnection: close\r\n'));
  t.true(text.endsWith('Content-Length: 13\r\n\r\nUnauthorized\n'));
});
