// Other areas' APIs the CLI uses, in one place.
export { runFio, parseCommandLine, resolveAll, FioConfigError } from '../tools/fio/index.ts';
export { formatParamTable, NULLB_PARAMS, formatParamValue } from '../drivers/rnull/index.ts';
