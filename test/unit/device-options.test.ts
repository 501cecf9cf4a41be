// The daemon's command line and the device registry: QEMU-style -device
// parsing, typed option validation with one-line errors, children attaching
// to their parent, and the help table.
import test from 'ava';
import { parseDaemonArgs, parseListen, UsageError, isLoopback } from '../../device/options.ts';
import {
  formatDeviceHelp, OptionError, parseDeviceSpec, parseSize, registerDevice, resolveDevices,
} from '../../device/registry.ts';
import { EduDevice } from '../../device/edu/edu.ts';
import '../../device/edu/index.ts';

// A parent/child pair for the resolution tests (names unlikely to clash with real devices).
registerDevice({
  name: 'test-ctrl',
  kind: 'function',
  description: 'test controller',
  children: ['test-ns'],
  options: [
    { name: 'serial', type: 'string', default: 'S1', maxLength: 20, doc: 'serial number' },
    { name: 'cmb', type: 'bool', default: false, doc: 'controller memory buffer' },
    { name: 'mode', type: 'enum', choices: ['a', 'b'], default: 'a', doc: 'mode' },
  ],
  create: () => new EduDevice({ dmaBits: 53, vectors: 1 }),
});
registerDevice({
  name: 'test-ns',
  kind: 'child',
  parent: 'test-ctrl',
  description: 'test namespace',
  options: [
    { name: 'nsid', type: 'int', required: true, min: 1, max: 1024, doc: 'namespace id' },
    { name: 'size', type: 'size', default: 1 << 20, multipleOf: 4096, doc: 'bytes' },
  ],
});

test('QEMU-style -device spec: commas, escaped commas, bare flags, driver=', (t) => {
  t.deepEqual(parseDeviceSpec('nvme,serial=a,,b,cmb'), { name: 'nvme', props: [['serial', 'a,b'], ['cmb', undefined]] });
  t.deepEqual(parseDeviceSpec('driver=edu'), { name: 'edu', props: [] });
  t.throws(() => parseDeviceSpec(',x=1'), { instanceOf: OptionError });
  t.throws(() => parseDeviceSpec('edu,x=1,'), { instanceOf: OptionError });
});

test('sizes use binary suffixes', (t) => {
  t.is(parseSize('4096'), 4096);
  t.is(parseSize('4K'), 4096);
  t.is(parseSize('64M'), 64 << 20);
  t.is(parseSize('1G'), 2 ** 30);
  t.is(parseSize('2GiB'), 2 ** 31);
  t.is(parseSize('1x'), undefined);
});

test('children attach to the preceding function; defaults and typed values', (t) => {
  const r = resolveDevices(['test-ctrl,serial=abc,cmb=on', 'test-ns,nsid=1,size=1M', 'test-ns,nsid=2'], 'edu');
  t.is(r.type.name, 'test-ctrl');
  t.is(r.options.str('serial'), 'abc');
  t.true(r.options.bool('cmb'));
  t.is(r.options.str('mode'), 'a');
  t.deepEqual(r.children.map((c) => [c.type, c.options.int('nsid'), c.options.int('size')]), [['test-ns', 1, 1 << 20], ['test-ns', 2, 1 << 20]]);
  t.is(resolveDevices([], 'edu').type.name, 'edu', 'default device');
});

test('validation errors are one line naming the device and option', (t) => {
  const msg = (specs: string[]): string => {
    try {
      resolveDevices(specs, 'edu');
      return '';
    } catch (e) {
      t.true(e instanceof OptionError);
      return (e as Error).message;
    }
  };
  t.regex(msg(['test-ns,nsid=1']), /test-ns: must follow the -device test-ctrl/);
  t.regex(msg(['test-ctrl', 'test-ns']), /option 'nsid' is required/);
  t.regex(msg(['test-ctrl', 'test-ns,nsid=0']), /'nsid': 0 is below the minimum 1/);
  t.regex(msg(['test-ctrl', 'test-ns,nsid=1,size=1000']), /'size': 1000 is not a multiple of 4096/);
  t.regex(msg(['test-ctrl,mode=c']), /'mode': expected one of a\|b/);
  t.regex(msg(['test-ctrl,cmb=maybe']), /'cmb': expected on\/off/);
  t.regex(msg(['test-ctrl,serial=' + 'x'.repeat(21)]), /longer than 20/);
  t.regex(msg(['test-ctrl,nope=1']), /unknown option 'nope'/);
  t.regex(msg(['test-ctrl,serial=a,serial=b']), /given twice/);
  t.regex(msg(['edu', 'test-ctrl']), /serves one PCI function/);
  t.regex(msg(['nosuch']), /unknown device type/);
  for (const m of [msg(['test-ns,nsid=1']), msg(['test-ctrl,mode=c'])]) t.false(m.includes('\n'));
});

test('help table lists every option with its default', (t) => {
  const h = formatDeviceHelp();
  t.regex(h, /-device test-ns \(attaches to a preceding -device test-ctrl\)/);
  t.regex(h, /nsid\s+int\s+\(required\)\s+namespace id/);
  t.regex(h, /dma_bits\s+int\s+53/);
});

test('daemon flags: spellings, token sources, listen, one-line errors', (t) => {
  const o = parseDaemonArgs(['--listen', '127.0.0.1:0', '-device', 'edu', '--device=edu,vectors=2', '-device=x', '--exit-on-stdin-eof'], {});
  t.deepEqual([o.host, o.port, o.devices, o.exitOnStdinEof, o.token], ['127.0.0.1', 0, ['edu', 'edu,vectors=2', 'x'], true, undefined]);
  t.is(parseDaemonArgs([], { NVMELAB_TOKEN: 'env' }).token, 'env');
  t.is(parseDaemonArgs(['--token', 'flag'], { NVMELAB_TOKEN: 'env' }).token, 'flag');
  t.deepEqual(parseListen('[::1]:99'), { host: '::1', port: 99 });
  t.deepEqual(parseListen(':0'), { host: '127.0.0.1', port: 0 });
  t.true(isLoopback('127.0.0.2'));
  t.false(isLoopback('0.0.0.0'));
  const bad = (argv: string[], re: RegExp): void => {
    const e = t.throws(() => parseDaemonArgs(argv, {}), { instanceOf: UsageError });
    t.regex(e?.message ?? '', re);
  };
  bad(['--bogus'], /unknown option '--bogus'/);
  bad(['-listen', 'x'], /unknown option '-listen'/);
  bad(['--listen'], /--listen needs a value/);
  bad(['--listen', 'h:70000'], /port must be/);
  bad(['--listen', '0.0.0.0:1'], /non-loopback address without a token/);
  bad(['--log-level', 'loud'], /--log-level 'loud'/);
  bad(['--tls-cert', 'a'], /--tls-cert and --tls-key/);
  bad(['--token-file', '/nonexistent/x'], /--token-file \/nonexistent\/x: ENOENT/);
  bad(['--exit-on-stdin-eof=1'], /takes no value/);
  bad(['stray'], /unexpected argument 'stray'/);
  t.is(parseDaemonArgs(['--listen', '0.0.0.0:0', '--token', 't'], {}).host, '0.0.0.0');
});
