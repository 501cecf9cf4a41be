// `nvme … -o json` field names against nvme-cli's (nvme-print-json.c, 2.x):
// the id-ctrl key list in order, power-state descriptor keys, error-log entry
// keys and smart-log keys, so jq filters written for nvme-cli work unchanged.
import test from 'ava';
import { errorLogJson, idCtrlJson, smartJson } from '../../host/cli/nvme-format.ts';

// The keys nvme-cli 2.x prints for `nvme id-ctrl -o json` on an NVMe 2.0 PCIe
// controller (no vendor-specific plugin), in its order.
const NVME_CLI_ID_CTRL = ['vid', 'ssvid', 'sn', 'mn', 'fr', 'rab', 'ieee', 'cmic', 'mdts', 'cntlid', 'ver', 'rtd3r', 'rtd3e', 'oaes',
  'ctratt', 'rrls', 'cntrltype', 'fguid', 'crdt1', 'crdt2', 'crdt3', 'nvmsr', 'vwci', 'mec', 'oacs', 'acl', 'aerl', 'frmw', 'lpa', 'elpe',
  'npss', 'avscc', 'apsta', 'wctemp', 'cctemp', 'mtfa', 'hmpre', 'hmmin', 'tnvmcap', 'unvmcap', 'rpmbs', 'edstt', 'dsto', 'fwug', 'kas',
  'hctma', 'mntmt', 'mxtmt', 'sanicap', 'hmminds', 'hmmaxd', 'nsetidmax', 'endgidmax', 'anatt', 'anacap', 'anagrpmax', 'nanagrpid',
  'pels', 'domainid', 'megcap', 'sqes', 'cqes', 'maxcmd', 'nn', 'oncs', 'fuses', 'fna', 'vwc', 'awun', 'awupf', 'icsvscc', 'nwpc', 'acwu',
  'ocfs', 'sgls', 'mnan', 'maxdna', 'maxcna', 'oaqd', 'subnqn', 'ioccsz', 'iorcsz', 'icdoff', 'fcatt', 'msdbd', 'ofcs', 'psds'];
const NVME_CLI_PSD = ['max_power', 'max_power_scale', 'non-operational_state', 'entry_lat', 'exit_lat', 'read_tput', 'read_lat',
  'write_tput', 'write_lat', 'idle_power', 'idle_scale', 'active_power', 'active_power_work', 'active_scale'];
const NVME_CLI_ERROR = ['error_count', 'sqid', 'cmdid', 'status_field', 'phase_tag', 'parm_error_location', 'lba', 'nsid', 'vs', 'trtype',
  'cs', 'trtype_spec_info'];
const NVME_CLI_SMART = ['critical_warning', 'temperature', 'avail_spare', 'spare_thresh', 'percent_used',
  'endurance_grp_critical_warning_summary', 'data_units_read', 'data_units_written', 'host_read_commands', 'host_write_commands',
  'controller_busy_time', 'power_cycles', 'power_on_hours', 'unsafe_shutdowns', 'media_errors', 'num_err_log_entries',
  'warning_temp_time', 'critical_comp_time'];

function idCtrlBuf(): Uint8Array {
  const b = new Uint8Array(4096);
  b.set(new TextEncoder().encode('nqn.2014-08.org.nvmexpress:nvmelab'), 768);
  b[263] = 1; // NPSS: two power states
  // PSD1: MP 900 cW, NOPS set, IPS = 10b (0.01 W), APWS = 10b scale, work 3.
  b[2048 + 32 + 0] = 900 & 0xff; b[2048 + 32 + 1] = 900 >> 8; b[2048 + 32 + 3] = 0x2; b[2048 + 32 + 18] = 0x80; b[2048 + 32 + 22] = 0x83;
  b.set([0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef], 112); // FGUID
  b[1792] = 4; // IOCCSZ
  return b;
}

test("id-ctrl -o json: nvme-cli's keys, in nvme-cli's order", (t) => {
  const j = idCtrlJson(idCtrlBuf());
  t.deepEqual(Object.keys(j), NVME_CLI_ID_CTRL);
  t.is(j.subnqn, 'nqn.2014-08.org.nvmexpress:nvmelab');
  t.is(j.fguid, '01234567-89ab-cdef-0123-456789abcdef');
  t.is(j.ioccsz, 4);
});

test("id-ctrl -o json: power state descriptors with nvme-cli's keys and decoded scales", (t) => {
  const psds = idCtrlJson(idCtrlBuf()).psds as Record<string, number>[];
  t.is(psds.length, 2);
  t.deepEqual(Object.keys(psds[1] ?? {}), NVME_CLI_PSD);
  t.like(psds[1], { max_power: 900, 'non-operational_state': 1, idle_scale: 2, active_power_work: 3, active_scale: 2 });
});

test('id-ctrl -o json: an empty subnqn is left out, as nvme-cli does', (t) => {
  const b = idCtrlBuf();
  b.fill(0, 768, 1024);
  t.false('subnqn' in idCtrlJson(b));
});

test("error-log and smart-log -o json: nvme-cli's keys", (t) => {
  const errs = errorLogJson(new Uint8Array(64)).errors as Record<string, unknown>[];
  t.deepEqual(Object.keys(errs[0] ?? {}), NVME_CLI_ERROR);
  const smart = smartJson(new Uint8Array(512));
  t.deepEqual(Object.keys(smart).slice(0, NVME_CLI_SMART.length), NVME_CLI_SMART);
});

test('id-ctrl -o json: sn/mn/fr keep their space padding, stop at a NUL, as nvme-cli\'s "%-.*s" does', (t) => {
  const b = idCtrlBuf();
  const put = (off: number, size: number, text: string, pad: number): void => {
    for (let i = 0; i < size; i++) b[off + i] = i < text.length ? text.charCodeAt(i) : pad;
  };
  put(4, 20, 'SN123', 0x20); // SN: bytes 23:04, space padded
  put(24, 40, 'nvmelab model', 0x20); // MN: bytes 63:24
  put(64, 8, '1.0', 0); // FR: a NUL-terminated (non-conforming) value ends at the NUL
  const j = idCtrlJson(b);
  t.is(j.sn, 'SN123               ');
  t.is(j.mn, `nvmelab model${' '.repeat(27)}`);
  t.is(j.fr, '1.0');
});
