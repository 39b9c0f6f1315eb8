#!/usr/bin/env node
/*
 * aws-cred-mock: the AWS credential endpoints the gateway's credential chain talks to, for the tests
 * of plugins/common/aws.
 *
 *   node tests/mock/aws-cred-mock.mjs [--port N] [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1; everything else goes
 * to stderr.  Only Node's own modules are used.
 *
 * Every route may be prefixed with a scenario, /s/<name>[,option...], so tests that share one mock
 * cannot disturb each other: each scenario has its own counters and options.  The prefix goes where
 * the chain lets a test put an endpoint (AWS_EC2_METADATA_SERVICE_ENDPOINT, the container full URI,
 * the STS endpoint).  Options:
 *   expires=S     credentials expire S seconds from now (default 3600; negative: already expired)
 *   fail=N        the first N credential requests of the scenario fail (500; STS: a 503 XML error)
 *   delay=MS      wait before answering credential requests
 *   token=T       the expected container Authorization value / web identity token
 *                 (defaults: "mock-container-token", "mock-web-identity-token")
 *   role=R        the IMDS instance role name (default "mock-role")
 *   badjson       answer credential requests with a malformed body
 *
 * Routes (after the prefix):
 *   PUT  /latest/api/token                              IMDSv2 session token; needs
 *                                                       x-aws-ec2-metadata-token-ttl-seconds
 *   GET  /latest/meta-data/iam/security-credentials/    the role name       } x-aws-ec2-metadata-token
 *   GET  /latest/meta-data/iam/security-credentials/R   credentials JSON    } required, 401 otherwise
 *   GET  /container[/...]                               container credentials JSON; Authorization
 *                                                       must equal the expected token (401 otherwise)
 *   POST /  (form Action=AssumeRole)                    SigV4 is verified by recomputing it with
 *                                                       the secret of the access key (403 otherwise)
 *   POST /  (form Action=AssumeRoleWithWebIdentity)     must be unsigned; the token is checked
 *
 * Access keys: keys starting with "AKID" are long-term keys whose secret is "secret-" + the key id;
 * every key the mock hands out (ASIA...) is remembered with its secret and session token, so
 * credentials from one route can sign an AssumeRole at another.
 *
 * Introspection:
 *   GET /__mock/count/<name>   {"token","list","creds","sts","failed","unauthorized",
 *                               "last":{"role_arn","session","region","access_key","action"},
 *                               "times":[arrival of each credential/STS request, Date.now() ms]}
 */
import crypto from 'node:crypto';
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const keys = new Map(); /* access key id -> {secret, token} */
const scenarios = new Map();
const imdsTokens = new Set();
let serial = 0;
let verbose = false;

function log(...a) {
    if (verbose) console.error('[aws-cred-mock]', ...a);
}

function scenario(spec) {
    const [name, ...opts] = spec.split(',');
    let s = scenarios.get(name);
    if (!s) {
        s = { name, token: 0, list: 0, creds: 0, sts: 0, failed: 0, unauthorized: 0, last: {}, times: [] };
        scenarios.set(name, s);
    }
    s.opts = {};
    for (const o of opts) {
        const eq = o.indexOf('=');
        s.opts[eq < 0 ? o : o.slice(0, eq)] = eq < 0 ? true : decodeURIComponent(o.slice(eq + 1));
    }
    return s;
}

function issue(kind, s) {
    serial++;
    const id = `ASIA${kind}${String(serial).padStart(6, '0')}`;
    const secret = crypto.randomBytes(30).toString('base64');
    /* Session tokens carry '/', '+' and '=' like real ones. */
    const token = `${kind}/${crypto.randomBytes(48).toString('base64')}=`;
    keys.set(id, { secret, token });
    const seconds = s.opts.expires !== undefined ? Number(s.opts.expires) : 3600;
    const expiration = new Date(Date.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    return { id, secret, token, expiration };
}

function secretFor(id) {
    if (id.startsWith('AKID')) return { secret: `secret-${id}`, token: undefined };
    return keys.get(id);
}

/* ---- SigV4, recomputed from the request as received ---- */

function sha256hex(data) {
    return crypto.createHash('sha256').update(data).digest('hex');
}

function hmac(key, data) {
    return crypto.createHmac('sha256', key).update(data).digest();
}

function encode(s, keepSlash) {
    let out = '';
    for (const b of Buffer.from(s, 'utf8')) {
        const c = String.fromCharCode(b);
        if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
        else out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
    }
    return out;
}

function decodeLoose(s) {
    return Buffer.from(
        s.replace(/%([0-9a-fA-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
        'latin1',
    ).toString('utf8');
}

/* Non-S3 canonical URI: dot segments and empty segments removed, every segment encoded again. */
export function canonicalUri(rawPath) {
    const segs = [];
    for (const seg of rawPath.split('/')) {
        if (seg === '' || seg === '.') continue;
        if (seg === '..') segs.pop();
        else segs.push(seg);
    }
    let out = '/' + segs.map((s) => encode(s, false)).join('/');
    if (segs.length > 0 && rawPath.endsWith('/')) out += '/';
    return out;
}

export function canonicalQuery(rawQuery) {
    if (!rawQuery) return '';
    const pairs = rawQuery
        .split('&')
        .filter((p) => p !== '')
        .map((p) => {
            const eq = p.indexOf('=');
            const k = eq < 0 ? p : p.slice(0, eq);
            const v = eq < 0 ? '' : p.slice(eq + 1);
            return [encode(decodeLoose(k), false), encode(decodeLoose(v), false)];
        });
    pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
    return pairs.map(([k, v]) => `${k}=${v}`).join('&');
}

/*
 * Verifies the Authorization header of a request: returns {ok: true, accessKey, region, service} or
 * {ok: false, code, message}.  `lookup(accessKeyId)` gives {secret, token} or undefined.
 */
export function sigv4Verify(req, body, lookup, now = Date.now()) {
    const auth = req.headers.authorization;
    const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
        auth || '',
    );
    if (!m) return { ok: false, code: 'IncompleteSignature', message: `bad Authorization: ${auth}` };
    const [, accessKey, date, region, service, signedList, signature] = m;
    const cred = lookup(accessKey);
    if (!cred) return { ok: false, code: 'InvalidClientTokenId', message: `unknown key ${accessKey}` };
    const amzDate = req.headers['x-amz-date'] || '';
    if (!/^\d{8}T\d{6}Z$/.test(amzDate) || amzDate.slice(0, 8) !== date)
        return { ok: false, code: 'IncompleteSignature', message: `bad x-amz-date ${amzDate}` };
    const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8),
        +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
    if (Math.abs(now - t) > 15 * 60 * 1000)
        return { ok: false, code: 'SignatureDoesNotMatch', message: 'Signature expired' };
    const signed = signedList.split(';');
    for (const required of ['host', 'x-amz-date'])
        if (!signed.includes(required))
            return { ok: false, code: 'SignatureDoesNotMatch', message: `${required} not signed` };
    if (cred.token !== undefined) {
        if (req.headers['x-amz-security-token'] !== cred.token || !signed.includes('x-amz-security-token'))
            return { ok: false, code: 'InvalidClientTokenId', message: 'session token missing or wrong' };
    }
    const payloadHash = sha256hex(body);
    const declared = req.headers['x-amz-content-sha256'];
    if (declared !== undefined && declared !== payloadHash)
        return { ok: false, code: 'XAmzContentSHA256Mismatch', message: 'x-amz-content-sha256 does not match the body' };
    /* Repeated headers are joined with ',' in the order received. */
    const values = new Map();
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const name = req.rawHeaders[i].toLowerCase();
        const value = req.rawHeaders[i + 1].trim().replace(/\s+/g, ' ');
        values.set(name, values.has(name) ? `${values.get(name)},${value}` : value);
    }
    for (const h of signed)
        if (!values.has(h)) return { ok: false, code: 'SignatureDoesNotMatch', message: `signed header ${h} absent` };
    const q = req.url.indexOf('?');
    const rawPath = q < 0 ? req.url : req.url.slice(0, q);
    const creq = [
        req.method,
        canonicalUri(rawPath),
        canonicalQuery(q < 0 ? '' : req.url.slice(q + 1)),
        signed.map((h) => `${h}:${values.get(h)}\n`).join(''),
        signedList,
        payloadHash,
    ].join('\n');
    const scope = `${date}/${region}/${service}/aws4_request`;
    const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256hex(creq)].join('\n');
    let k = hmac('AWS4' + cred.secret, date);
    k = hmac(k, region);
    k = hmac(k, service);
    k = hmac(k, 'aws4_request');
    const want = hmac(k, sts).toString('hex');
    if (want !== signature) {
        log('canonical request:\n' + creq);
        return { ok: false, code: 'SignatureDoesNotMatch', message: 'The request signature we calculated does not match' };
    }
    return { ok: true, accessKey, region, service };
}

/* ---- answers ---- */

function xmlEscape(s) {
    return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function stsError(res, status, code, message) {
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(`<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>${xmlEscape(code)}</Code>
    <Message>${xmlEscape(message)}</Message>
  </Error>
  <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
</ErrorResponse>
`);
}

function stsCredentials(res, action, c, roleArn, session) {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<${action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <${action}Result>
    <AssumedRoleUser>
      <Arn>${xmlEscape(roleArn)}/${xmlEscape(session)}</Arn>
      <AssumedRoleId>AROA3XFRBF535PLBIFPI4:${xmlEscape(session)}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <AccessKeyId>${c.id}</AccessKeyId>
      <SecretAccessKey>${xmlEscape(c.secret)}</SecretAccessKey>
      <SessionToken>${xmlEscape(c.token)}</SessionToken>
      <Expiration>${c.expiration}</Expiration>
    </Credentials>
  </${action}Result>
  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>
</${action}Response>
`);
}

function credsJson(res, c, imds) {
    const body = {
        ...(imds ? { Code: 'Success', LastUpdated: new Date().toISOString(), Type: 'AWS-HMAC' } : {}),
        AccessKeyId: c.id,
        SecretAccessKey: c.secret,
        Token: c.token,
        Expiration: c.expiration,
        ...(imds ? {} : { RoleArn: 'arn:aws:iam::123456789012:role/container' }),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body, null, 2));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/* Delay, failure and malformed-body options shared by every credential route; true when answered. */
async function faults(s, res, sts) {
    if (s.opts.delay) await sleep(Number(s.opts.delay));
    if (s.opts.fail && s.failed < Number(s.opts.fail)) {
        s.failed++;
        if (sts) stsError(res, 503, 'ServiceUnavailable', 'injected failure');
        else {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end('injected failure');
        }
        return true;
    }
    if (s.opts.badjson) {
        res.writeHead(200, { 'content-type': sts ? 'text/xml' : 'application/json' });
        res.end(sts ? '<AssumeRoleResponse><Credentials><AccessKeyId>x' : '{"AccessKeyId": "x", ');
        return true;
    }
    return false;
}

async function route(req, res, s, path, body) {
    if (req.method === 'PUT' && path === '/latest/api/token') {
        const ttl = Number(req.headers['x-aws-ec2-metadata-token-ttl-seconds']);
        if (!(ttl >= 1 && ttl <= 21600)) {
            res.writeHead(400).end('missing or bad x-aws-ec2-metadata-token-ttl-seconds');
            return;
        }
        s.token++;
        const t = `imds-${crypto.randomBytes(16).toString('hex')}`;
        imdsTokens.add(t);
        res.writeHead(200, { 'content-type': 'text/plain', 'x-aws-ec2-metadata-token-ttl-seconds': String(ttl) });
        res.end(t);
        return;
    }
    const prefix = '/latest/meta-data/iam/security-credentials/';
    if (req.method === 'GET' && path.startsWith(prefix)) {
        if (!imdsTokens.has(req.headers['x-aws-ec2-metadata-token'])) {
            s.unauthorized++;
            res.writeHead(401).end();
            return;
        }
        const role = s.opts.role || 'mock-role';
        if (path === prefix) {
            s.list++;
            res.writeHead(200, { 'content-type': 'text/plain' }).end(role);
            return;
        }
        if (decodeURIComponent(path.slice(prefix.length)) !== role) {
            res.writeHead(404).end();
            return;
        }
        s.creds++;
        s.times.push(Date.now());
        if (await faults(s, res, false)) return;
        credsJson(res, issue('IMDS', s), true);
        return;
    }
    if (req.method === 'GET' && (path === '/container' || path.startsWith('/container/'))) {
        s.creds++;
        s.times.push(Date.now());
        const want = s.opts.token || 'mock-container-token';
        if (req.headers.authorization !== want) {
            s.unauthorized++;
            res.writeHead(401, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ message: 'bad authorization token' }));
            return;
        }
        if (await faults(s, res, false)) return;
        credsJson(res, issue('CTNR', s), false);
        return;
    }
    if (req.method === 'POST' && (path === '/' || path === '')) {
        const form = new URLSearchParams(body.toString('utf8'));
        const action = form.get('Action');
        s.sts++;
        s.times.push(Date.now());
        s.last = { action, role_arn: form.get('RoleArn'), session: form.get('RoleSessionName') };
        if (form.get('Version') !== '2011-06-15') return stsError(res, 400, 'InvalidAction', 'bad Version');
        if (!(req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded'))
            return stsError(res, 400, 'InvalidAction', 'not a form post');
        if (!form.get('RoleArn') || !form.get('RoleSessionName'))
            return stsError(res, 400, 'MissingParameter', 'RoleArn and RoleSessionName are required');
        if (action === 'AssumeRole') {
            const v = sigv4Verify(req, body, secretFor);
            if (!v.ok) {
                s.unauthorized++;
                return stsError(res, 403, v.code, v.message);
            }
            s.last.region = v.region;
            s.last.access_key = v.accessKey;
            if (v.service !== 'sts') return stsError(res, 403, 'SignatureDoesNotMatch', `service ${v.service}`);
            if (await faults(s, res, true)) return;
            return stsCredentials(res, 'AssumeRole', issue('ROLE', s), form.get('RoleArn'), form.get('RoleSessionName'));
        }
        if (action === 'AssumeRoleWithWebIdentity') {
            if (req.headers.authorization)
                return stsError(res, 400, 'InvalidParameterValue', 'AssumeRoleWithWebIdentity is not signed');
            const want = s.opts.token || 'mock-web-identity-token';
            if (form.get('WebIdentityToken') !== want) {
                s.unauthorized++;
                return stsError(res, 400, 'InvalidIdentityToken', 'The web identity token that was passed could not be validated');
            }
            if (await faults(s, res, true)) return;
            return stsCredentials(res, 'AssumeRoleWithWebIdentity', issue('WEBI', s), form.get('RoleArn'),
                form.get('RoleSessionName'));
        }
        return stsError(res, 400, 'InvalidAction', `unknown action ${action}`);
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end(`no route ${req.method} ${path}`);
}

export function createMock() {
    return http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
            const body = Buffer.concat(chunks);
            const url = req.url;
            log(req.method, url);
            try {
                const count = /^\/__mock\/count\/([^/?]+)$/.exec(url);
                if (count) {
                    const s = scenarios.get(decodeURIComponent(count[1])) || { token: 0, list: 0, creds: 0, sts: 0, failed: 0, unauthorized: 0, last: {}, times: [] };
                    const { token, list, creds, sts, failed, unauthorized, last, times } = s;
                    res.writeHead(200, { 'content-type': 'application/json' });
                    res.end(JSON.stringify({ token, list, creds, sts, failed, unauthorized, last, times }));
                    return;
                }
                const q = url.indexOf('?');
                let path = q < 0 ? url : url.slice(0, q);
                let s = scenario('default');
                const m = /^\/s\/([^/]+)(\/.*)?$/.exec(path);
                if (m) {
                    s = scenario(decodeURIComponent(m[1]));
                    path = m[2] || '/';
                }
                await route(req, res, s, path, body);
            } catch (e) {
                console.error('[aws-cred-mock] handler failed:', e);
                if (!res.headersSent) res.writeHead(500).end(String(e.message));
                else res.destroy();
            }
        });
    });
}

function main() {
    let port = 0;
    const argv = process.argv.slice(2);
    for (let i = 0; i < argv.length; i++) {
        if (argv[i] === '--port' && i + 1 < argv.length) port = Number(argv[++i]);
        else if (argv[i].startsWith('--port=')) port = Number(argv[i].slice(7));
        else if (argv[i] === '--verbose') verbose = true;
        else {
            console.error(`aws-cred-mock: unknown argument ${argv[i]}\nusage: aws-cred-mock.mjs [--port N] [--verbose]`);
            process.exit(2);
        }
    }
    const server = createMock();
    server.on('error', (e) => {
        console.error(`aws-cred-mock: ${e.message}`);
        process.exit(1);
    });
    server.listen(port, '127.0.0.1', () => process.stdout.write(`LISTENING ${server.address().port}\n`));
    const stop = () => {
        server.close();
        server.closeAllConnections();
        setTimeout(() => process.exit(0), 50).unref();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
