// A client that reads slowly must not make the gateway buffer the upstream's stream: the upstream is
// paused instead, so the gateway's memory stays flat while 96 MiB wait upstream, and every byte still
// arrives once the client reads again.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';

import { MASTER_KEY, mockDeployment, sleep, startGateway, startMock } from './harness.mjs';

const CHUNKS = 6000;
const CHUNK_BYTES = 16384; /* 96 MiB of content in all */
/* The gateway may hold what the kernel's socket buffers let it read before it pauses (more under
 * ASan, whose quarantine keeps freed blocks resident); without backpressure it holds nearly all. */
const LIMIT_KIB = 48 * 1024;

function rssKiB(pid) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m[1]);
}

describe('backpressure', () => {
    let mock, gw;
    before(async () => {
        mock = await startMock();
        gw = await startGateway({
            model_list: [mockDeployment(mock)],
            general_settings: { master_key: MASTER_KEY },
            server: { workers: 1 },
        });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
    });

    it('keeps gateway memory flat for a client that stops reading, then delivers everything', { timeout: 60_000 }, async () => {
        const pid = gw.child.pid;
        const base = rssKiB(pid);
        const body = JSON.stringify({
            model: 'gpt-mock', stream: true,
            messages: [{ role: 'user', content: `[[chunks:${CHUNKS}]] [[chunk_bytes:${CHUNK_BYTES}]]` }],
        });
        const sock = net.connect(gw.port, '127.0.0.1');
        let received = 0;
        let tail = '';
        try {
        await new Promise((r) => sock.once('connect', r));
        // A small receive window and no reading: the kernel buffers fill, then the gateway must pause.
        sock.setNoDelay(true);
        sock.pause();
        sock.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${MASTER_KEY}\r\n` +
                   `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        let peak = 0;
        for (let i = 0; i < 25; i++) {
            await sleep(100);
            peak = Math.max(peak, rssKiB(pid) - base);
        }
        // Without backpressure the gateway would hold most of the 96 MiB; with it, a few windows.
        assert.ok(peak < LIMIT_KIB, `gateway RSS grew by ${peak} KiB while the client did not read`);

        const done = new Promise((resolve, reject) => {
            sock.on('data', (d) => {
                received += d.length;
                tail = (tail + d.toString('latin1')).slice(-64);
                if (tail.includes('data: [DONE]')) resolve();
            });
            sock.on('error', reject);
            sock.on('close', () => resolve());
        });
        sock.resume();
        await done;
        } finally {
            sock.destroy();
        }
        assert.ok(tail.includes('data: [DONE]'), 'the stream did not end with [DONE]');
        assert.ok(received > CHUNKS * CHUNK_BYTES, `only ${received} bytes arrived`);
    });
});
