// The NBD protocol as data: magics, option / reply / info / command numbers,
// flag bits, errno values and the fixed header sizes. Section names refer to
// the NBD project's doc/proto.md ("The NBD protocol"). All integers on the wire
// are big-endian (network byte order).
//
// [raw] This module and wire.ts are the only places in host/nbd that know byte
// offsets inside NBD messages.

// ── "Newstyle negotiation" ─────────────────────────────────────────────────
/** 'NBDMAGIC', first 8 bytes the server sends. */
export const NBD_MAGIC = 0x4e42444d41474943n;
/** 'IHAVEOPT', second 8 bytes of the greeting and the magic of each option request. */
export const NBD_OPTS_MAGIC = 0x49484156454f5054n;
/** Magic of each option reply. */
export const NBD_REP_MAGIC = 0x0003e889045565a9n;

// "Handshake flags" (16 bits, server → client)
export const NBD_FLAG_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_NO_ZEROES = 1 << 1;
// "Client flags" (32 bits, client → server). Any other bit → the server MUST drop the connection.
export const NBD_FLAG_C_FIXED_NEWSTYLE = 1 << 0;
export const NBD_FLAG_C_NO_ZEROES = 1 << 1;

// "Option types"
export const NBD_OPT_EXPORT_NAME = 1;
export const NBD_OPT_ABORT = 2;
export const NBD_OPT_LIST = 3;
export const NBD_OPT_PEEK_EXPORT = 4;
export const NBD_OPT_STARTTLS = 5;
export const NBD_OPT_INFO = 6;
export const NBD_OPT_GO = 7;
export const NBD_OPT_STRUCTURED_REPLY = 8;
export const NBD_OPT_LIST_META_CONTEXT = 9;
export const NBD_OPT_SET_META_CONTEXT = 10;
export const NBD_OPT_EXTENDED_HEADERS = 11;

// "Option reply types"; errors have bit 31 set.
export const NBD_REP_ACK = 1;
export const NBD_REP_SERVER = 2;
export const NBD_REP_INFO = 3;
export const NBD_REP_META_CONTEXT = 4;
export const NBD_REP_FLAG_ERROR = 0x8000_0000;
export const NBD_REP_ERR_UNSUP = NBD_REP_FLAG_ERROR + 1;
export const NBD_REP_ERR_POLICY = NBD_REP_FLAG_ERROR + 2;
export const NBD_REP_ERR_INVALID = NBD_REP_FLAG_ERROR + 3;
export const NBD_REP_ERR_PLATFORM = NBD_REP_FLAG_ERROR + 4;
export const NBD_REP_ERR_TLS_REQD = NBD_REP_FLAG_ERROR + 5;
export const NBD_REP_ERR_UNKNOWN = NBD_REP_FLAG_ERROR + 6;
export const NBD_REP_ERR_SHUTDOWN = NBD_REP_FLAG_ERROR + 7;
export const NBD_REP_ERR_BLOCK_SIZE_REQD = NBD_REP_FLAG_ERROR + 8;
export const NBD_REP_ERR_TOO_BIG = NBD_REP_FLAG_ERROR + 9;

// "Info types" (NBD_REP_INFO payloads, requested in NBD_OPT_INFO / NBD_OPT_GO)
export const NBD_INFO_EXPORT = 0;
export const NBD_INFO_NAME = 1;
export const NBD_INFO_DESCRIPTION = 2;
export const NBD_INFO_BLOCK_SIZE = 3;

// "Transmission flags" (16 bits)
export const NBD_FLAG_HAS_FLAGS = 1 << 0;
export const NBD_FLAG_READ_ONLY = 1 << 1;
export const NBD_FLAG_SEND_FLUSH = 1 << 2;
export const NBD_FLAG_SEND_FUA = 1 << 3;
export const NBD_FLAG_ROTATIONAL = 1 << 4;
export const NBD_FLAG_SEND_TRIM = 1 << 5;
export const NBD_FLAG_SEND_WRITE_ZEROES = 1 << 6;
export const NBD_FLAG_SEND_DF = 1 << 7;
export const NBD_FLAG_CAN_MULTI_CONN = 1 << 8;
export const NBD_FLAG_SEND_RESIZE = 1 << 9;
export const NBD_FLAG_SEND_CACHE = 1 << 10;
export const NBD_FLAG_SEND_FAST_ZERO = 1 << 11;

// ── "Transmission phase" ───────────────────────────────────────────────────
export const NBD_REQUEST_MAGIC = 0x25609513;
export const NBD_SIMPLE_REPLY_MAGIC = 0x67446698;
export const NBD_STRUCTURED_REPLY_MAGIC = 0x668e33ef;

// "Request types"
export const NBD_CMD_READ = 0;
export const NBD_CMD_WRITE = 1;
export const NBD_CMD_DISC = 2;
export const NBD_CMD_FLUSH = 3;
export const NBD_CMD_TRIM = 4;
export const NBD_CMD_CACHE = 5;
export const NBD_CMD_WRITE_ZEROES = 6;
export const NBD_CMD_BLOCK_STATUS = 7;
export const NBD_CMD_RESIZE = 8;

export const NBD_CMD_NAMES: Readonly<Record<number, string>> = {
  [NBD_CMD_READ]: 'READ', [NBD_CMD_WRITE]: 'WRITE', [NBD_CMD_DISC]: 'DISC', [NBD_CMD_FLUSH]: 'FLUSH',
  [NBD_CMD_TRIM]: 'TRIM', [NBD_CMD_CACHE]: 'CACHE', [NBD_CMD_WRITE_ZEROES]: 'WRITE_ZEROES',
  [NBD_CMD_BLOCK_STATUS]: 'BLOCK_STATUS', [NBD_CMD_RESIZE]: 'RESIZE',
};

// "Command flags"
export const NBD_CMD_FLAG_FUA = 1 << 0;
export const NBD_CMD_FLAG_NO_HOLE = 1 << 1;
export const NBD_CMD_FLAG_DF = 1 << 2;
export const NBD_CMD_FLAG_REQ_ONE = 1 << 3;
export const NBD_CMD_FLAG_FAST_ZERO = 1 << 4;

// "Structured reply flags" and "Structured reply types"
export const NBD_REPLY_FLAG_DONE = 1 << 0;
export const NBD_REPLY_TYPE_NONE = 0;
export const NBD_REPLY_TYPE_OFFSET_DATA = 1;
export const NBD_REPLY_TYPE_OFFSET_HOLE = 2;
export const NBD_REPLY_TYPE_BLOCK_STATUS = 5;
export const NBD_REPLY_TYPE_ERROR = (1 << 15) + 1;
export const NBD_REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 2;

// "Metadata querying": the one context we offer, base:allocation ("Block
// status" → "base:allocation metadata context"), and its status flags.
export const NBD_META_BASE_ALLOCATION = 'base:allocation';
/** Context id we give base:allocation (any id is fine; the client echoes it back). */
export const NBD_META_ID_BASE_ALLOCATION = 1;
/** "NBD_STATE_HOLE": the extent is not allocated. */
export const NBD_STATE_HOLE = 1 << 0;
/** "NBD_STATE_ZERO": the extent reads as zeroes. */
export const NBD_STATE_ZERO = 1 << 1;

// "Error values": the protocol's own numbering (Linux's), not the host OS's.
export const NBD_EPERM = 1;
export const NBD_EIO = 5;
export const NBD_ENOMEM = 12;
export const NBD_EINVAL = 22;
export const NBD_ENOSPC = 28;
export const NBD_EOVERFLOW = 75;
export const NBD_ENOTSUP = 95;
export const NBD_ESHUTDOWN = 108;

export const NBD_ERRNO_NAMES: Readonly<Record<number, string>> = {
  [NBD_EPERM]: 'EPERM', [NBD_EIO]: 'EIO', [NBD_ENOMEM]: 'ENOMEM', [NBD_EINVAL]: 'EINVAL',
  [NBD_ENOSPC]: 'ENOSPC', [NBD_EOVERFLOW]: 'EOVERFLOW', [NBD_ENOTSUP]: 'ENOTSUP', [NBD_ESHUTDOWN]: 'ESHUTDOWN',
};

// ── Sizes ──────────────────────────────────────────────────────────────────
/** Greeting: NBDMAGIC(8) IHAVEOPT(8) handshake flags(2). */
export const GREETING_SIZE = 18;
/** Option request header: IHAVEOPT(8) option(4) length(4). */
export const OPTION_HEADER_SIZE = 16;
/** Option reply header: magic(8) option(4) type(4) length(4). */
export const OPTION_REPLY_HEADER_SIZE = 20;
/** NBD_OPT_EXPORT_NAME reply: size(8) transmission flags(2) [+124 zeroes]. */
export const EXPORT_NAME_REPLY_SIZE = 10;
export const EXPORT_NAME_ZERO_PAD = 124;
/** Request header: magic(4) flags(2) type(2) cookie(8) offset(8) length(4). */
export const REQUEST_HEADER_SIZE = 28;
/** Simple reply header: magic(4) error(4) cookie(8). */
export const SIMPLE_REPLY_HEADER_SIZE = 16;
/** Structured reply chunk header: magic(4) flags(2) type(2) cookie(8) length(4). */
export const STRUCTURED_REPLY_HEADER_SIZE = 20;

/** "Strings": export names and messages MUST be no longer than 4096 bytes. */
export const NBD_MAX_STRING = 4096;
/**
 * Largest option payload we accept. The longest legal option is NBD_OPT_GO /
 * INFO: 4 + name (≤ 4096) + 2 + 2 × info requests; anything larger is a
 * misbehaving client and the connection is dropped.
 */
export const NBD_MAX_OPTION_LENGTH = 4 + NBD_MAX_STRING + 2 + 2 * 1024;
/**
 * "Block size constraints": clients SHOULD NOT send payloads above 32 MiB
 * unless the server advertised a larger maximum.
 */
export const NBD_DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;

export const NBD_DEFAULT_PORT = 10809;
