// The built-in device types, one import each: importing a module registers
// its types with device/registry.ts. Add a line here for a new device.
import './edu/index.ts';
import './nvme/index.ts';
// A deliberately hostile device for host-robustness tests (fixtures/, uses ctx.unchecked).
import '../fixtures/malicious-device.ts';
