/*
 * aws-wire: the two AWS wire formats the AWS mocks (bedrock, sagemaker) speak, with Node built-ins
 * only.
 *
 *   - AWS event-stream (application/vnd.amazon.eventstream): binary messages with a CRC32-checked
 *     prelude and message.  encodeMessage()/encodeEvent()/encodeException() build them;
 *     EventStreamDecoder and decodeMessages() read them back and check both CRCs.
 *   - Signature Version 4: signRequest() signs a request as an AWS SDK does, verifySigV4() checks an
 *     incoming node:http request against known credentials and says why it fails in the words AWS
 *     uses (InvalidSignatureException, UnrecognizedClientException, ...).
 *
 * Nothing here knows about a particular service: the service name, the region and the credentials
 * come from the caller.
 */
import { createHash, createHmac } from 'node:crypto';

// ---------------------------------------------------------------------------------------------
// CRC32 (IEEE 802.3, the polynomial event-stream uses)
// ---------------------------------------------------------------------------------------------

const CRC_TABLE = (() => {
    const t = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
        let c = i;
        for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
        t[i] = c >>> 0;
    }
    return t;
})();

/* CRC32 of `buf`, continuing from `crc` (0 to start). */
export function crc32(buf, crc = 0) {
    let c = (crc ^ 0xffffffff) >>> 0;
    for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Event-stream encoding
// ---------------------------------------------------------------------------------------------

const HEADER_TYPES = {
    true: 0, false: 1, byte: 2, short: 3, integer: 4, long: 5, bytes: 6, string: 7, timestamp: 8, uuid: 9,
};

/*
 * Header values: a string is type 7 (string); {type, value} picks another type: 'bool' (value true
 * or false), 'byte', 'short', 'integer', 'long' (BigInt or number), 'bytes' (Buffer), 'string',
 * 'timestamp' (ms since the epoch, number or Date), 'uuid' (16-byte Buffer or hex text).
 */
export function encodeHeaders(headers = {}) {
    const parts = [];
    for (const [name, raw] of Object.entries(headers)) {
        const spec = typeof raw === 'object' && raw !== null && !Buffer.isBuffer(raw) ? raw : { type: 'string', value: raw };
        const nameBuf = Buffer.from(name, 'utf8');
        if (nameBuf.length > 255) throw new Error(`event-stream header name too long: ${name}`);
        let value;
        let type;
        switch (spec.type) {
        case 'bool':
            type = spec.value ? HEADER_TYPES.true : HEADER_TYPES.false;
            value = Buffer.alloc(0);
            break;
        case 'byte':
            type = HEADER_TYPES.byte;
            value = Buffer.alloc(1);
            value.writeInt8(spec.value);
            break;
        case 'short':
            type = HEADER_TYPES.short;
            value = Buffer.alloc(2);
            value.writeInt16BE(spec.value);
            break;
        case 'integer':
            type = HEADER_TYPES.integer;
            value = Buffer.alloc(4);
            value.writeInt32BE(spec.value);
            break;
        case 'long':
        case 'timestamp': {
            type = HEADER_TYPES[spec.type];
            value = Buffer.alloc(8);
            const v = spec.value instanceof Date ? spec.value.getTime() : spec.value;
            value.writeBigInt64BE(BigInt(v));
            break;
        }
        case 'bytes':
        case 'string': {
            type = HEADER_TYPES[spec.type];
            const b = Buffer.isBuffer(spec.value) ? spec.value : Buffer.from(String(spec.value), 'utf8');
            if (b.length > 0xffff) throw new Error(`event-stream header ${name} too long`);
            value = Buffer.alloc(2 + b.length);
            value.writeUInt16BE(b.length);
            b.copy(value, 2);
            break;
        }
        case 'uuid':
            type = HEADER_TYPES.uuid;
            value = Buffer.isBuffer(spec.value) ? spec.value : Buffer.from(String(spec.value).replace(/-/g, ''), 'hex');
            if (value.length !== 16) throw new Error(`event-stream uuid header ${name} must be 16 bytes`);
            break;
        default:
            throw new Error(`event-stream header ${name}: unknown type ${spec.type}`);
        }
        parts.push(Buffer.from([nameBuf.length]), nameBuf, Buffer.from([type]), value);
    }
    return Buffer.concat(parts);
}

function toBuffer(payload) {
    if (payload === undefined || payload === null) return Buffer.alloc(0);
    if (Buffer.isBuffer(payload)) return payload;
    if (payload instanceof Uint8Array) return Buffer.from(payload);
    if (typeof payload === 'string') return Buffer.from(payload, 'utf8');
    return Buffer.from(JSON.stringify(payload), 'utf8');
}

/*
 * One message: 4-byte total length, 4-byte headers length, prelude CRC, headers, payload, message
 * CRC (all big-endian).  `payload` may be a Buffer, a string, or an object (sent as JSON).
 */
export function encodeMessage({ headers = {}, payload } = {}) {
    const h = encodeHeaders(headers);
    const p = toBuffer(payload);
    const total = 12 + h.length + p.length + 4;
    const msg = Buffer.alloc(total);
    msg.writeUInt32BE(total, 0);
    msg.writeUInt32BE(h.length, 4);
    msg.writeUInt32BE(crc32(msg.subarray(0, 8)), 8);
    h.copy(msg, 12);
    p.copy(msg, 12 + h.length);
    msg.writeUInt32BE(crc32(msg.subarray(0, total - 4)), total - 4);
    return msg;
}

/* An event message as AWS services send them: :message-type event, :event-type, :content-type. */
export function encodeEvent(eventType, payload, { contentType = 'application/json', headers = {} } = {}) {
    return encodeMessage({
        headers: { ':event-type': eventType, ':content-type': contentType, ':message-type': 'event', ...headers },
        payload,
    });
}

/* A modelled exception inside a stream (e.g. throttlingException with {"message": ...}). */
export function encodeException(exceptionType, payload, { contentType = 'application/json' } = {}) {
    return encodeMessage({
        headers: { ':exception-type': exceptionType, ':content-type': contentType, ':message-type': 'exception' },
        payload,
    });
}

/* An unmodelled error message (:message-type error with :error-code and :error-message). */
export function encodeError(code, message) {
    return encodeMessage({
        headers: { ':error-code': code, ':error-message': message, ':message-type': 'error' },
    });
}

// ---------------------------------------------------------------------------------------------
// Event-stream decoding
// ---------------------------------------------------------------------------------------------

function decodeHeaders(buf) {
    const out = {};
    let i = 0;
    while (i < buf.length) {
        const nlen = buf[i++];
        if (i + nlen + 1 > buf.length) throw new Error('event-stream: truncated header');
        const name = buf.subarray(i, i + nlen).toString('utf8');
        i += nlen;
        const type = buf[i++];
        let value;
        const need = (n) => {
            if (i + n > buf.length) throw new Error(`event-stream: truncated value of header ${name}`);
        };
        switch (type) {
        case 0: value = true; break;
        case 1: value = false; break;
        case 2: need(1); value = buf.readInt8(i); i += 1; break;
        case 3: need(2); value = buf.readInt16BE(i); i += 2; break;
        case 4: need(4); value = buf.readInt32BE(i); i += 4; break;
        case 5: need(8); value = buf.readBigInt64BE(i); i += 8; break;
        case 6:
        case 7: {
            need(2);
            const len = buf.readUInt16BE(i);
            i += 2;
            need(len);
            const b = buf.subarray(i, i + len);
            value = type === 7 ? b.toString('utf8') : Buffer.from(b);
            i += len;
            break;
        }
        case 8: need(8); value = new Date(Number(buf.readBigInt64BE(i))); i += 8; break;
        case 9: need(16); value = buf.subarray(i, i + 16).toString('hex'); i += 16; break;
        default: throw new Error(`event-stream: unknown header type ${type} for ${name}`);
        }
        out[name] = value;
    }
    return out;
}

/*
 * Incremental decoder: push() bytes as they arrive, get back the complete messages
 * [{headers, payload (Buffer)}].  A CRC mismatch or a malformed length throws.
 */
export class EventStreamDecoder {
    constructor({ maxMessage = 16 << 20 } = {}) {
        this.buf = Buffer.alloc(0);
        this.maxMessage = maxMessage;
    }

    push(chunk) {
        this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
        const out = [];
        while (this.buf.length >= 12) {
            const total = this.buf.readUInt32BE(0);
            const hlen = this.buf.readUInt32BE(4);
            if (crc32(this.buf.subarray(0, 8)) !== this.buf.readUInt32BE(8)) throw new Error('event-stream: prelude CRC mismatch');
            if (total < 16 || total > this.maxMessage || hlen > total - 16) throw new Error(`event-stream: bad lengths ${total}/${hlen}`);
            if (this.buf.length < total) break;
            const msg = this.buf.subarray(0, total);
            if (crc32(msg.subarray(0, total - 4)) !== msg.readUInt32BE(total - 4)) throw new Error('event-stream: message CRC mismatch');
            out.push({ headers: decodeHeaders(msg.subarray(12, 12 + hlen)), payload: Buffer.from(msg.subarray(12 + hlen, total - 4)) });
            this.buf = this.buf.subarray(total);
        }
        return out;
    }

    /* Bytes of an unfinished message left over (a truncated stream leaves some). */
    get pending() {
        return this.buf.length;
    }
}

/* Every message of a complete buffer; throws on a CRC error or leftover bytes. */
export function decodeMessages(buf) {
    const d = new EventStreamDecoder();
    const msgs = d.push(buf);
    if (d.pending) throw new Error(`event-stream: ${d.pending} bytes of an unfinished message`);
    return msgs;
}

// ---------------------------------------------------------------------------------------------
// SigV4
// ---------------------------------------------------------------------------------------------

export const sha256Hex = (data) => createHash('sha256').update(data).digest('hex');
const hmac = (key, data) => createHmac('sha256', key).update(data, 'utf8').digest();

/* RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ (and '/' if kept). */
export function uriEncode(str, keepSlash = false) {
    let out = '';
    for (const byte of Buffer.from(str, 'utf8')) {
        const c = String.fromCharCode(byte);
        if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === '/')) out += c;
        else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
    }
    return out;
}

function decodeComponent(s) {
    try {
        return decodeURIComponent(s.replace(/\+/g, '%20'));
    } catch {
        return s;
    }
}

/*
 * The canonical URI of a non-S3 service: the path as sent (already encoded once), normalised
 * ("." and ".." resolved, empty segments dropped) and every segment encoded once more.
 */
export function canonicalUri(rawPath) {
    const segs = [];
    for (const s of rawPath.split('/')) {
        if (s === '' || s === '.') continue;
        if (s === '..') segs.pop();
        else segs.push(s);
    }
    const tail = rawPath.endsWith('/') && segs.length ? '/' : '';
    return `/${segs.map((s) => uriEncode(s)).join('/')}${tail}`;
}

/* Query parameters decoded, re-encoded strictly and sorted by name, then value. */
export function canonicalQuery(rawQuery) {
    if (!rawQuery) return '';
    const pairs = rawQuery.split('&').filter((p) => p !== '').map((p) => {
        const i = p.indexOf('=');
        const k = i < 0 ? p : p.slice(0, i);
        const v = i < 0 ? '' : p.slice(i + 1);
        return [uriEncode(decodeComponent(k)), uriEncode(decodeComponent(v))];
    });
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

const trimValue = (v) => String(v).trim().replace(/\s+/g, ' ');

/*
 * The canonical request.  `headers` maps lowercase names to a value or a list of values (repeats
 * are joined with ','); `signedHeaders` is the sorted list of lowercase names to include.
 */
export function canonicalRequest({ method, rawPath, rawQuery = '', headers, signedHeaders, payloadHash }) {
    const lines = signedHeaders.map((name) => {
        const v = headers[name];
        const vals = Array.isArray(v) ? v : [v ?? ''];
        return `${name}:${vals.map(trimValue).join(',')}\n`;
    });
    return [method.toUpperCase(), canonicalUri(rawPath), canonicalQuery(rawQuery), lines.join(''),
            signedHeaders.join(';'), payloadHash].join('\n');
}

export function signingKey(secret, date, region, service) {
    return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), 'aws4_request');
}

/* YYYYMMDD'T'HHMMSS'Z' of a Date or of unix seconds. */
export function amzDate(when) {
    const d = typeof when === 'number' ? new Date(when * 1000) : when;
    return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/*
 * Sign a request the way AWS SDKs do (every given header signed, plus host and x-amz-date, and
 * x-amz-security-token when there is a session token).  `url` is the URL exactly as it will be
 * sent; `now` a Date or unix seconds.  Returns {authorization, amzDate, headers} where headers are
 * all the headers to send (lowercase names), the given ones included.
 */
export function signRequest({ method = 'POST', url, headers = {}, body = '', accessKeyId, secretAccessKey,
                              sessionToken, region, service, now = new Date(), contentSha256 = false }) {
    const u = new URL(url);
    const date = amzDate(now);
    const all = {};
    for (const [k, v] of Object.entries(headers)) all[k.toLowerCase()] = v;
    all.host = u.host;
    all['x-amz-date'] = date;
    if (sessionToken) all['x-amz-security-token'] = sessionToken;
    const payloadHash = sha256Hex(toBuffer(body));
    if (contentSha256) all['x-amz-content-sha256'] = payloadHash;
    const signed = Object.keys(all).sort();
    const creq = canonicalRequest({ method, rawPath: u.pathname, rawQuery: u.search.slice(1), headers: all,
                                    signedHeaders: signed, payloadHash });
    const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
    const sts = ['AWS4-HMAC-SHA256', date, scope, sha256Hex(creq)].join('\n');
    const sig = createHmac('sha256', signingKey(secretAccessKey, date.slice(0, 8), region, service)).update(sts).digest('hex');
    const authorization = `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${sig}`;
    return { authorization, amzDate: date, headers: { ...all, authorization }, canonicalRequest: creq, stringToSign: sts };
}

/* {algorithm, accessKeyId, date, region, service, signedHeaders[], signature} or null. */
export function parseAuthorization(value) {
    const m = /^(AWS4-HMAC-SHA256)\s+(.*)$/.exec(value ?? '');
    if (!m) return null;
    const fields = {};
    for (const part of m[2].split(',')) {
        const i = part.indexOf('=');
        if (i > 0) fields[part.slice(0, i).trim()] = part.slice(i + 1).trim();
    }
    if (!fields.Credential || !fields.SignedHeaders || !fields.Signature) return null;
    const cred = fields.Credential.split('/');
    if (cred.length !== 5 || cred[4] !== 'aws4_request') return null;
    return {
        algorithm: m[1],
        accessKeyId: cred[0],
        date: cred[1],
        region: cred[2],
        service: cred[3],
        signedHeaders: fields.SignedHeaders.split(';'),
        signature: fields.Signature,
    };
}

/* Header values by lowercase name from a node:http request, repeats kept as a list. */
function headerLists(req) {
    const out = {};
    const raw = req.rawHeaders ?? [];
    for (let i = 0; i + 1 < raw.length; i += 2) {
        const k = raw[i].toLowerCase();
        (out[k] ??= []).push(raw[i + 1]);
    }
    return out;
}

/*
 * Check the SigV4 signature of a node:http request whose whole body is `body` (a Buffer).
 *   lookup(accessKeyId) -> {secretAccessKey, sessionToken?} | null
 *   region, service     expected credential scope (a mismatch is refused as AWS does)
 *   now                 Date for the clock-skew check (15 minutes either way)
 * Returns {ok: true, accessKeyId, region, service, signedHeaders} or
 * {ok: false, status, type, message} with the x-amzn-errortype AWS would send.
 */
export function verifySigV4(req, body, { lookup, region, service, now = new Date(), maxSkewMs = 15 * 60 * 1000 }) {
    const fail = (type, message, status = 403) => ({ ok: false, status, type, message });
    const headers = headerLists(req);
    const auth = parseAuthorization(headers.authorization?.[0]);
    if (!auth) {
        return fail('MissingAuthenticationTokenException', 'Missing Authentication Token', 403);
    }
    if (!auth.signedHeaders.includes('host')) {
        return fail('IncompleteSignatureException', "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.", 403);
    }
    const dateValue = headers['x-amz-date']?.[0];
    if (!dateValue || !/^\d{8}T\d{6}Z$/.test(dateValue)) {
        return fail('IncompleteSignatureException', 'Authorization header requires existence of either a \'X-Amz-Date\' or a \'Date\' header.');
    }
    if (!auth.signedHeaders.includes('x-amz-date')) {
        return fail('IncompleteSignatureException', "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
    }
    if (auth.date !== dateValue.slice(0, 8)) {
        return fail('InvalidSignatureException', `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${auth.date}' != '${dateValue.slice(0, 8)}'`);
    }
    const when = Date.UTC(+dateValue.slice(0, 4), +dateValue.slice(4, 6) - 1, +dateValue.slice(6, 8),
                          +dateValue.slice(9, 11), +dateValue.slice(11, 13), +dateValue.slice(13, 15));
    if (Math.abs(now.getTime() - when) > maxSkewMs) {
        return fail('InvalidSignatureException', `Signature expired: ${dateValue} is now earlier or later than the allowed window.`);
    }
    if (service && auth.service !== service) {
        return fail('InvalidSignatureException', `Credential should be scoped to correct service: '${service}'.`);
    }
    if (region && auth.region !== region) {
        return fail('InvalidSignatureException', `Credential should be scoped to a valid region, not '${auth.region}'.`);
    }
    const cred = lookup(auth.accessKeyId);
    if (!cred) {
        return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (cred.sessionToken && headers['x-amz-security-token']?.[0] !== cred.sessionToken) {
        return fail('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    for (const name of Object.keys(headers)) {
        if ((name.startsWith('x-amz-') || name === 'content-type') && name !== 'x-amz-content-sha256' &&
            !auth.signedHeaders.includes(name)) {
            return fail('InvalidSignatureException', `There were headers present in the request which were not signed: ${name}`);
        }
    }
    const payloadHash = sha256Hex(body);
    const declared = headers['x-amz-content-sha256']?.[0];
    if (declared !== undefined && declared !== payloadHash) {
        return fail('InvalidSignatureException', 'The provided x-amz-content-sha256 header does not match what was computed.');
    }
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    const rawQuery = q < 0 ? '' : rawUrl.slice(q + 1);
    const signed = [...auth.signedHeaders];
    for (const name of signed) {
        if (headers[name] === undefined) return fail('InvalidSignatureException', `Signed header ${name} is missing from the request.`);
    }
    const creq = canonicalRequest({ method: req.method, rawPath, rawQuery, headers, signedHeaders: signed, payloadHash });
    const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
    const sts = ['AWS4-HMAC-SHA256', dateValue, scope, sha256Hex(creq)].join('\n');
    const expect = createHmac('sha256', signingKey(cred.secretAccessKey, auth.date, auth.region, auth.service))
        .update(sts).digest('hex');
    if (expect !== auth.signature) {
        return {
            ...fail('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. ' +
                    'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.'),
            canonicalRequest: creq,
            stringToSign: sts,
        };
    }
    return { ok: true, accessKeyId: auth.accessKeyId, region: auth.region, service: auth.service, signedHeaders: signed };
}
