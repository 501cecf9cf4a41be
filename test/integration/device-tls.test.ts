// wss:// with a certificate and key on the daemon's command line, and the
// host verifying it (a self-signed certificate made with openssl for the test).
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Channel } from '../../src/protocol/channel.ts';
import { connectWebSocket } from '../../src/protocol/transport.ts';
import { startDevice } from '../helpers/daemon.ts';

function makeCert(dir: string): boolean {
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('wss: the host verifies the daemon certificate; an unknown CA is refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nvmelab-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  if (!makeCert(dir)) {
    t.pass('openssl not available: skipped');
    return;
  }
  const dev = await startDevice({ args: ['-device', 'edu', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')], token: 'tls-tok' });
  t.teardown(() => dev.stop());
  t.regex(dev.url, /^wss:\/\/127\.0\.0\.1:\d+\/$/);
  await t.throwsAsync(connectWebSocket(dev.url, { token: 'tls-tok' }), { message: /self.signed|certificate/i });
  const tr = await connectWebSocket(dev.url, { token: 'tls-tok', ca: readFileSync(join(dir, 'cert.pem')) });
  const ch = new Channel(tr, { side: 'host' });
  const hello = await ch.hello();
  t.is(hello.info.vendor, 0x1234);
  ch.bye('done');
  t.is(await dev.stop(), 0);
});
