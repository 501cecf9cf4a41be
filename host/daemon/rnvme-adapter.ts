// Adapts the rnvme driver's controller to NvmeControllerPort.
import type { Logger } from '../../src/util/log.ts';
import type { NvmeControllerPort } from './nvme-port.ts';

export async function attachRnvme(
  url: string,
  o: { token?: string; index: number; log: Logger; driverOptions?: Record<string, number | boolean> },
): Promise<NvmeControllerPort> {
  void url;
  void o;
  throw new Error('rnvme driver is not available yet');
}
