// The NBD interop suite (npm run test:interop): real Debian clients against nvmelab.
import base from './ava.config.js';
export default { ...base, files: ['test/interop/**/*.test.ts'], timeout: '180s' };
