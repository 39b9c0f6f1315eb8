#!/usr/bin/env node
/*
 * bedrock-guardrail-mock: a mock of Amazon Bedrock's ApplyGuardrail API (bedrock-runtime) for
 * Gantry's integration tests.
 *
 *   node tests/mock/bedrock-guardrail-mock.mjs --port 0 [--region us-east-1]
 *                                              [--creds AKID:SECRET[:TOKEN]]... [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1.  Only Node's own
 * modules are used.  Without --creds the mock knows CREDS below.
 *
 * Wire format of the real service:
 *   POST /guardrail/{guardrailIdentifier}/version/{guardrailVersion}/apply
 *        {"source": "INPUT"|"OUTPUT", "content": [{"text": {"text": "..."}}, ...]}
 *   200  {"action": "NONE"|"GUARDRAIL_INTERVENED", "actionReason", "outputs": [{"text"}],
 *         "assessments": [{...policy assessments...}], "usage": {...}, "guardrailCoverage": {...}}
 * {guardrailIdentifier} arrives URL-encoded (an ARN's ':' and '/' as %3A and %2F).  Errors: the
 * status, `x-amzn-errortype: <Name>:http://internal.amazon.com/coral/com.amazon.bedrock/` and
 * {"message": "..."}.  The identifier and version are checked against the API's patterns, the body
 * roughly as Bedrock does (400 ValidationException); the identifier "missing" is a 404.
 *
 * Every request must be signed with SigV4 (service "bedrock", the mock's region) by known
 * credentials: the signature is recomputed (tests/mock/aws-wire.mjs), so a wrong secret gets 403
 * InvalidSignatureException and an unknown key 403 UnrecognizedClientException.
 *
 * Verdicts are chosen by the text sent (all blocks):
 *   FAILGUARD       500 InternalServerException
 *   BADJSONGUARD    200 with a body that is not JSON
 *   SLOWGUARD       answer after 2 s (then as below)
 *   BLOCKME         GUARDRAIL_INTERVENED: a BLOCKED denied topic ("Forbidden") and content filter
 *                   (MISCONDUCT), outputs [{"text": BLOCKED_MESSAGE}]
 *   an e-mail address or an SSN (123-45-6789)
 *                   GUARDRAIL_INTERVENED: ANONYMIZED PII entities, one output per block with each
 *                   entity replaced by {EMAIL} / {US_SOCIAL_SECURITY_NUMBER}
 *   anything else   NONE, no outputs
 *
 * Introspection (no auth):
 *   GET  /__mock/requests[?contains=TEXT]   recorded requests, oldest first: {method, path,
 *        guardrailIdentifier, guardrailVersion, source, texts, accessKeyId, status, headers, body,
 *        time}; `contains` filters on the raw body
 *   POST /__mock/reset                      forget them
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { verifySigV4 } from './aws-wire.mjs';

export const REGION = 'us-east-1';
export const CREDS = { accessKeyId: 'AKIAMOCKGUARDRAIL001', secretAccessKey: 'mockSecretKey/guardrail+tests/0000000001' };
export const BLOCKED_MESSAGE = 'Sorry, blocked.';
export const SLOW_MS = 2000;

const ID_PATTERN = /^(([a-z0-9]+)|(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:guardrail\/[a-z0-9]+))$/;
const VERSION_PATTERN = /^(([1-9][0-9]{0,7})|(DRAFT))$/;
const EMAIL = /[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}/g;
const SSN = /\b\d{3}-\d{2}-\d{4}\b/g;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Reject extends Error {
    constructor(status, message, errName) {
        super(message);
        this.status = status;
        this.errName = errName;
    }
}

/* The blocks' texts, or a ValidationException as Bedrock words it. */
function validate(body) {
    let doc;
    try {
        doc = JSON.parse(body);
    } catch {
        throw new Reject(400, 'Malformed input request, please reformat your input and try again.', 'ValidationException');
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
        throw new Reject(400, 'Malformed input request: the body must be an object.', 'ValidationException');
    }
    for (const k of Object.keys(doc)) {
        if (!['source', 'content', 'outputScope'].includes(k)) {
            throw new Reject(400, `Malformed input request: extraneous key [${k}] is not permitted.`, 'ValidationException');
        }
    }
    if (doc.source !== 'INPUT' && doc.source !== 'OUTPUT') {
        throw new Reject(400, "1 validation error detected: Value at 'source' failed to satisfy constraint: Member must satisfy enum value set: [INPUT, OUTPUT]", 'ValidationException');
    }
    if (!Array.isArray(doc.content) || doc.content.length === 0) {
        throw new Reject(400, 'The content field must contain at least one content block.', 'ValidationException');
    }
    const texts = [];
    for (const block of doc.content) {
        const keys = block && typeof block === 'object' ? Object.keys(block) : [];
        if (keys.length !== 1 || keys[0] !== 'text' || typeof block.text?.text !== 'string') {
            throw new Reject(400, 'Each content block must be exactly one of text or image; text needs a "text" string.', 'ValidationException');
        }
        if (block.text.text.length === 0) {
            throw new Reject(400, 'The text of a content block must not be empty.', 'ValidationException');
        }
        texts.push(block.text.text);
    }
    return { source: doc.source, texts };
}

function usage() {
    return {
        topicPolicyUnits: 1, contentPolicyUnits: 1, wordPolicyUnits: 1, sensitiveInformationPolicyUnits: 1,
        sensitiveInformationPolicyFreeUnits: 0, contextualGroundingPolicyUnits: 0,
    };
}

function coverage(texts) {
    const total = texts.reduce((n, t) => n + t.length, 0);
    return { textCharacters: { guarded: total, total } };
}

/* The answer for the blocks' texts (see the header). */
export function verdict(texts) {
    const all = texts.join('\n');
    if (all.includes('BLOCKME')) {
        return {
            action: 'GUARDRAIL_INTERVENED',
            actionReason: 'Guardrail blocked.',
            outputs: [{ text: BLOCKED_MESSAGE }],
            assessments: [{
                topicPolicy: { topics: [{ name: 'Forbidden', type: 'DENY', action: 'BLOCKED', detected: true }] },
                contentPolicy: {
                    filters: [
                        { type: 'MISCONDUCT', confidence: 'HIGH', filterStrength: 'HIGH', action: 'BLOCKED', detected: true },
                        { type: 'HATE', confidence: 'NONE', filterStrength: 'HIGH', action: 'NONE', detected: false },
                    ],
                },
                invocationMetrics: { guardrailProcessingLatency: 12, usage: usage(), guardrailCoverage: coverage(texts) },
            }],
            usage: usage(),
            guardrailCoverage: coverage(texts),
        };
    }
    const entities = [];
    const masked = texts.map((t) => t
        .replace(EMAIL, (m) => {
            entities.push({ type: 'EMAIL', match: m, action: 'ANONYMIZED', detected: true });
            return '{EMAIL}';
        })
        .replace(SSN, (m) => {
            entities.push({ type: 'US_SOCIAL_SECURITY_NUMBER', match: m, action: 'ANONYMIZED', detected: true });
            return '{US_SOCIAL_SECURITY_NUMBER}';
        }));
    if (entities.length > 0) {
        return {
            action: 'GUARDRAIL_INTERVENED',
            actionReason: 'Guardrail masked.',
            outputs: masked.map((text) => ({ text })),
            assessments: [{ sensitiveInformationPolicy: { piiEntities: entities } }],
            usage: usage(),
            guardrailCoverage: coverage(texts),
        };
    }
    return { action: 'NONE', actionReason: 'No action.', outputs: [], assessments: [{}], usage: usage(), guardrailCoverage: coverage(texts) };
}

function parseArgs(argv) {
    const o = { port: 0, region: REGION, creds: [], verbose: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--port') o.port = Number(argv[++i]);
        else if (a === '--region') o.region = argv[++i];
        else if (a === '--creds') {
            const [accessKeyId, secretAccessKey, sessionToken] = argv[++i].split(':');
            o.creds.push({ accessKeyId, secretAccessKey, sessionToken });
        } else if (a === '--verbose') o.verbose = true;
    }
    if (o.creds.length === 0) o.creds.push(CREDS);
    return o;
}

export function startGuardrailMock(opts) {
    const log = (...a) => opts.verbose && process.stderr.write(`[guardrail-mock] ${a.join(' ')}\n`);
    const recorded = [];

    function send(res, status, body, headers = {}) {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': 'mock-guardrail-1',
                                'content-length': Buffer.byteLength(text), ...headers });
        res.end(text);
    }

    function sendError(res, status, name, message) {
        send(res, status, { message }, { 'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
    }

    async function apply(req, res, raw, m, rec) {
        const v = verifySigV4(req, raw, {
            lookup: (id) => opts.creds.find((c) => c.accessKeyId === id) ?? null,
            region: opts.region,
            service: 'bedrock',
        });
        if (!v.ok) {
            log('signature check failed:', v.type, v.message, v.canonicalRequest ? `\n${v.canonicalRequest}` : '');
            throw new Reject(v.status, v.message, v.type);
        }
        rec.accessKeyId = v.accessKeyId;
        const id = decodeURIComponent(m[1]);
        const version = decodeURIComponent(m[2]);
        rec.guardrailIdentifier = id;
        rec.guardrailVersion = version;
        if (!ID_PATTERN.test(id)) {
            throw new Reject(400, `1 validation error detected: Value '${id}' at 'guardrailIdentifier' failed to satisfy constraint: Member must satisfy regular expression pattern`, 'ValidationException');
        }
        if (!VERSION_PATTERN.test(version)) {
            throw new Reject(400, `1 validation error detected: Value '${version}' at 'guardrailVersion' failed to satisfy constraint: Member must satisfy regular expression pattern`, 'ValidationException');
        }
        if (id === 'missing') throw new Reject(404, 'The guardrail was not found.', 'ResourceNotFoundException');
        const { source, texts } = validate(raw.toString('utf8'));
        rec.source = source;
        rec.texts = texts;
        const all = texts.join('\n');
        if (all.includes('FAILGUARD')) throw new Reject(500, 'The mock guardrail failed (FAILGUARD).', 'InternalServerException');
        if (all.includes('SLOWGUARD')) {
            await sleep(SLOW_MS);
            if (res.destroyed) return;
        }
        if (all.includes('BADJSONGUARD')) {
            rec.status = 200;
            res.writeHead(200, { 'content-type': 'application/json' });
            return res.end('{"action": "NONE", "outputs": [');
        }
        rec.status = 200;
        return send(res, 200, verdict(texts));
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
            const raw = Buffer.concat(chunks);
            const url = new URL(req.url, 'http://mock');
            let rec = null;
            try {
                if (url.pathname === '/__mock/requests' && req.method === 'GET') {
                    const contains = url.searchParams.get('contains');
                    return send(res, 200, recorded.filter((r) => contains == null || r.body.includes(contains)));
                }
                if (url.pathname === '/__mock/reset' && req.method === 'POST') {
                    recorded.length = 0;
                    return send(res, 200, { ok: true });
                }
                /* The raw path: the identifier stays encoded, as the signature covers it. */
                const rawPath = req.url.split('?')[0];
                const m = /^\/guardrail\/([^/]+)\/version\/([^/]+)\/apply$/.exec(rawPath);
                if (!m || req.method !== 'POST') throw new Reject(404, `No route for ${req.method} ${url.pathname}`, 'UnknownOperationException');
                rec = { method: req.method, path: rawPath, headers: req.headers, body: raw.toString('utf8'), time: Date.now() };
                recorded.push(rec);
                return await apply(req, res, raw, m, rec);
            } catch (e) {
                if (!(e instanceof Reject)) {
                    log('internal error:', e.stack);
                    e = new Reject(500, `mock failure: ${e.message}`, 'InternalServerException');
                }
                if (rec) rec.status = e.status;
                log(`${req.method} ${req.url} -> ${e.status} ${e.errName}: ${e.message}`);
                if (!res.headersSent) sendError(res, e.status, e.errName, e.message);
                else res.destroy();
            }
        });
    });
    return new Promise((resolve) => {
        server.listen(opts.port, '127.0.0.1', () => resolve(server));
    });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
    const opts = parseArgs(process.argv.slice(2));
    startGuardrailMock(opts).then((server) => {
        process.stdout.write(`LISTENING ${server.address().port}\n`);
        for (const sig of ['SIGTERM', 'SIGINT']) {
            process.on(sig, () => {
                server.close(() => process.exit(0));
                server.closeAllConnections();
            });
        }
    });
}
