#!/usr/bin/env python3
"""Write fuzz seeds for fuzz_provider.c from the provider golden cases.

    python3 fuzz/seed_providers.py          # fuzz/corpus/prov_<name>/ for every plugins/provider-*/golden

Each golden case gives up to five seeds, prefixed with the mode byte fuzz_provider.c expects:
0 response body, 1 SSE stream, 2 event-stream bytes (encoded here with real CRCs), 3 error body,
4 the canonical request.
"""
import glob
import json
import os
import struct
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def evs_message(headers, payload):
    hs = b''
    for k, v in headers.items():
        kb, vb = k.encode(), str(v).encode()
        hs += bytes([len(kb)]) + kb + b'\x07' + struct.pack('>H', len(vb)) + vb
    total = 12 + len(hs) + len(payload) + 4
    pre = struct.pack('>II', total, len(hs))
    pre += struct.pack('>I', zlib.crc32(pre))
    m = pre + hs + payload
    return m + struct.pack('>I', zlib.crc32(m))


def text(v):
    return v.encode() if isinstance(v, str) else json.dumps(v, separators=(',', ':')).encode()


def seeds(case):
    if 'response' in case:
        r = case['response']
        yield 0, 0, r.get('body_text', '').encode() if 'body_text' in r else text(r.get('body'))
    if 'stream_sse' in case:
        yield 1, 0, case['stream_sse'].encode()
    if 'stream_events' in case:
        yield 2, 0, b''.join(evs_message(e.get('headers', {}), text(e.get('payload', '')))
                             for e in case['stream_events'])
    if 'error_response' in case:
        e = case['error_response']
        yield 3, (e.get('status', 500) - 400) % 200, \
            e['body_text'].encode() if 'body_text' in e else text(e.get('body'))
    if 'request' in case:
        yield 4, 0, text(case['request'])


def main():
    for gdir in sorted(glob.glob(os.path.join(ROOT, 'plugins', 'provider-*', 'golden'))):
        name = os.path.basename(os.path.dirname(gdir))[len('provider-'):]
        out = os.path.join(ROOT, 'fuzz', 'corpus', 'prov_' + name)
        os.makedirs(out, exist_ok=True)
        n = 0
        for f in sorted(glob.glob(os.path.join(gdir, '*.json'))):
            with open(f) as fh:
                case = json.load(fh)
            base = os.path.splitext(os.path.basename(f))[0]
            for mode, second, data in seeds(case):
                with open(os.path.join(out, '%s.%d' % (base, mode)), 'wb') as fh:
                    fh.write(bytes([mode, second]) + data)
                n += 1
        print('%s: %d seeds' % (out, n))


if __name__ == '__main__':
    main()
