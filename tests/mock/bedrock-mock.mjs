#!/usr/bin/env node
/*
 * bedrock-mock: a mock Amazon Bedrock (bedrock-runtime and the GetPrompt call of bedrock-agent) for
 * Gantry's integration tests.
 *
 *   node tests/mock/bedrock-mock.mjs --port 0 [--region us-east-1] [--creds AKID:SECRET[:TOKEN]]...
 *                                    [--api-key KEY]... [--verbose]
 *
 * Prints exactly one line, `LISTENING <port>`, on stdout once bound to 127.0.0.1.  Only Node's own
 * modules are used.  Without --creds/--api-key the mock knows the credentials exported below.
 *
 * Wire format of the real service:
 *   POST /model/{modelId}/converse                      Converse JSON
 *   POST /model/{modelId}/converse-stream               application/vnd.amazon.eventstream: messageStart,
 *                                                       contentBlockStart/Delta/Stop, messageStop, metadata
 *   POST /model/{modelId}/invoke                        the model family's native JSON (anthropic.*,
 *                                                       amazon.titan-text-*, meta.llama*, mistral.*,
 *                                                       amazon.nova-*, amazon.titan-embed-text-*, cohere.embed-*)
 *   POST /model/{modelId}/invoke-with-response-stream   "chunk" events {"bytes": base64 of the family's event}
 *   GET  /prompts/{promptId}[?promptVersion=N]          bedrock-agent GetPrompt (PROMPTS below)
 * {modelId} arrives URL-encoded (':' as %3A); event payloads carry Bedrock's "p" padding member.
 * Errors: the status, `x-amzn-errortype: <Name>:http://internal.amazon.com/coral/com.amazon.bedrock/`
 * and {"message": "..."}.  Stream exceptions are :message-type exception messages.
 *
 * Every request must be signed with SigV4 (service "bedrock", the mock's region) by known
 * credentials - the signature is recomputed, so a wrong secret gets 403 InvalidSignatureException
 * and an unknown key 403 UnrecognizedClientException - or carry `Authorization: Bearer <api key>`.
 * Bodies are validated roughly as Bedrock does (alternating roles starting with user, no blank
 * text, image formats, distinct document names, toolConfig present with tool blocks, the native
 * bodies' keys), answering 400 ValidationException, so a bad translation fails loudly.
 *
 * Directives in the last user message (or the prompt text of the prompt-string families):
 *   [[status:N]]          answer N with the error Bedrock uses for it
 *   [[throttle]]          429 ThrottlingException; [[throttle:N]] only for the first N requests that carry
 *                         the same text (so a retry succeeds)
 *   [[context]]           400 ValidationException "Input is too long for requested model."
 *   [[tool_call]]         the answer is a call of the request's first tool (else get_weather) with
 *                         TOOL_INPUT; streamed in three input fragments
 *   [[thinking]]          a reasoning block (THINKING, signed) before the text
 *   [[cache]]             usage reports cacheReadInputTokens 100 and cacheWriteInputTokens 20
 *   [[echo]]              the answer text is the request body as received
 *   [[delay:MS]]          wait before answering
 *   [[stream_exception]]  streams: one text delta, then a modelStreamErrorException;
 *                         [[stream_exception:NAME]] sends NAME instead (e.g. throttlingException)
 *   [[bad_crc]]           streams: one text delta, then a message whose message CRC is wrong
 *   [[truncate]]          streams: one text delta, then half of the next message, then the end
 *
 * Credentials endpoint (no auth), for the credential chain's container source:
 *   GET  /__creds/container[?delay=MS][&hold=1]   {"AccessKeyId","SecretAccessKey","Token",
 *        "Expiration"} of CONTAINER_CREDS, after MS milliseconds, or (hold) once POST
 *        /__mock/release-creds is called (4.5 s at most); recorded with the time it was answered
 *
 * Introspection (no auth):
 *   GET  /__mock/requests[?contains=TEXT][&path=PREFIX]  recorded requests, oldest first:
 *        {method, path, operation, modelId, auth, accessKeyId, region, headers, body, time}
 *   POST /__mock/reset                                   forget them (and throttle counts)
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';
import { encodeEvent, encodeException, verifySigV4 } from './aws-wire.mjs';

export const REGION = 'us-east-1';
export const CREDS = { accessKeyId: 'AKIAMOCKBEDROCK00001', secretAccessKey: 'mockSecretKey/bedrock+tests/0000000001' };
export const SESSION_CREDS = {
    accessKeyId: 'ASIAMOCKBEDROCK00002',
    secretAccessKey: 'mockSecretKey/bedrock+tests/0000000002',
    sessionToken: 'IQoJb3JpZ2luX2VjEMockSessionToken0002',
};
export const API_KEY = 'ABSKbW9jay1iZWRyb2NrLWFwaS1rZXk=';
/* What GET /__creds/container answers (an ECS/EKS-style container credentials endpoint). */
export const CONTAINER_CREDS = {
    accessKeyId: 'ASIAMOCKCONTAINER003',
    secretAccessKey: 'mockSecretKey/bedrock+tests/0000000003',
    sessionToken: 'IQoJb3JpZ2luX2VjEMockContainerToken03',
};

export const PIECES = ['Hello', ' from', ' Bedrock'];
export const CONTENT = PIECES.join('');
export const INPUT_TOKENS = 10;
export const TOOL_INPUT = { city: 'Paris', unit: 'celsius' };
export const TOOL_FRAGMENTS = ['{"city":', '"Paris",', '"unit":"celsius"}'];
export const THINKING = 'Let me think about it.';
export const SIGNATURE = 'c2lnbmF0dXJlLW1vY2stMQ==';
export const EMBED_DIMS = 8;

/* Managed prompts GetPrompt knows: id -> version ("DRAFT" when none is asked) -> answer. */
export const PROMPTS = {
    PROMPTTEXT01: {
        DRAFT: {
            name: 'one-liner', defaultVariant: 'v1',
            variants: [{
                name: 'v1', templateType: 'TEXT', modelId: 'anthropic.claude-3-5-sonnet-20240620-v1:0',
                templateConfiguration: { text: { text: 'Write one line about {{topic}}.', inputVariables: [{ name: 'topic' }] } },
                inferenceConfiguration: { text: { maxTokens: 77, temperature: 0.3 } },
            }],
        },
    },
    PROMPTCHAT01: {
        2: {
            name: 'greeter', defaultVariant: 'main',
            variants: [
                { name: 'other', templateType: 'TEXT', modelId: 'amazon.titan-text-express-v1',
                  templateConfiguration: { text: { text: 'unused' } } },
                { name: 'main', templateType: 'CHAT', modelId: 'us.amazon.nova-lite-v1:0',
                  templateConfiguration: { chat: {
                      system: [{ text: 'You are {{persona}}.' }],
                      messages: [{ role: 'user', content: [{ text: 'Greet {{name}} warmly.' }] }],
                      inputVariables: [{ name: 'persona' }, { name: 'name' }],
                  } },
                  inferenceConfiguration: { text: { maxTokens: 55, topP: 0.5 } } },
            ],
        },
    },
};

const ERROR_NAMES = {
    400: 'ValidationException', 403: 'AccessDeniedException', 404: 'ResourceNotFoundException',
    408: 'ModelTimeoutException', 424: 'ModelErrorException', 429: 'ThrottlingException',
    500: 'InternalServerException', 503: 'ServiceUnavailableException',
};
const ERROR_TEXT = {
    400: 'Malformed input request, please reformat your input and try again.',
    403: "You don't have access to the model with the specified model ID.",
    404: 'Could not resolve the foundation model from the provided model identifier.',
    408: 'Model has timed out in processing the request. Try your request again.',
    424: 'Received error from the model. Try your request again.',
    429: 'Too many requests, please wait before trying again.',
    500: 'The system encountered an unexpected error during processing. Try your request again.',
    503: 'Bedrock is unable to process your request.',
};

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pad = (n) => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'.slice(0, n);

class Reject extends Error {
    constructor(status, message, name = ERROR_NAMES[status] ?? 'ValidationException') {
        super(message);
        this.status = status;
        this.errName = name;
    }
}
const invalid = (msg) => new Reject(400, msg, 'ValidationException');

/* ---- family of a model id (region prefixes skipped) ---- */

export function familyOf(id) {
    const base = id.replace(/^(us|eu|apac|global|us-gov|jp|au|ca)\./, '').replace(/^arn:.*\//, '').replace(/^(us|eu|apac|global)\./, '');
    if (base.startsWith('anthropic.')) return 'anthropic';
    if (base.startsWith('amazon.titan-text-')) return 'titan';
    if (base.startsWith('amazon.titan-embed-text-')) return 'titan-embed';
    if (base.startsWith('amazon.nova-')) return 'nova';
    if (base.startsWith('meta.llama')) return 'llama';
    if (base.startsWith('mistral.')) return 'mistral';
    if (base.startsWith('cohere.embed-')) return 'cohere-embed';
    return 'other';
}

/* ---- directives ---- */

function parseDirectives(text) {
    const d = {};
    for (const m of String(text ?? '').matchAll(/\[\[(\w+)(?::([^\]]*))?\]\]/g)) d[m[1]] = m[2] ?? true;
    return d;
}

function textOfBlocks(content) {
    if (typeof content === 'string') return content;
    if (!Array.isArray(content)) return '';
    return content.map((b) => (typeof b?.text === 'string' ? b.text : '')).join('\n');
}

/* The text directives are read from: the last user turn, or the prompt of prompt-string families. */
function directiveText(op, family, body) {
    if (op === 'invoke' || op === 'invoke-with-response-stream') {
        if (family === 'titan') return body.inputText;
        if (family === 'llama' || family === 'mistral') return body.prompt;
        if (family === 'titan-embed') return body.inputText;
        if (family === 'cohere-embed') return (body.texts ?? []).join('\n');
    }
    const msgs = Array.isArray(body.messages) ? body.messages : [];
    for (let i = msgs.length - 1; i >= 0; i--) {
        if (msgs[i]?.role === 'user') {
            /* A turn that returns tool results answers the model: no directives (an agent loop ends). */
            if (Array.isArray(msgs[i].content) && msgs[i].content.some((b) => b?.toolResult)) return '';
            const t = textOfBlocks(msgs[i].content);
            if (t) return t;
        }
    }
    return '';
}

/* ---- validation, roughly as Bedrock does it ---- */

const CONVERSE_KEYS = new Set(['messages', 'system', 'inferenceConfig', 'toolConfig', 'guardrailConfig',
    'additionalModelRequestFields', 'promptVariables', 'additionalModelResponseFieldPaths', 'requestMetadata',
    'performanceConfig', 'serviceTier']);
const BLOCK_KEYS = new Set(['text', 'image', 'document', 'video', 'toolUse', 'toolResult', 'guardContent',
    'cachePoint', 'reasoningContent', 'citationsContent']);
const IMAGE_FORMATS = new Set(['png', 'jpeg', 'gif', 'webp']);
const DOC_FORMATS = new Set(['pdf', 'csv', 'doc', 'docx', 'xls', 'xlsx', 'html', 'txt', 'md']);
const isB64 = (s) => typeof s === 'string' && s.length > 0 && /^[A-Za-z0-9+/]+={0,2}$/.test(s) && s.length % 4 === 0;

function checkKeys(obj, allowed, where) {
    for (const k of Object.keys(obj ?? {})) {
        if (!allowed.has(k)) throw invalid(`Malformed input request: #${where}: extraneous key [${k}] is not permitted, please reformat your input and try again.`);
    }
}

/* Converse, and Nova's InvokeModel body (nova = true). */
function validateConverse(body, { nova = false } = {}) {
    if (nova) checkKeys(body, new Set(['schemaVersion', 'messages', 'system', 'inferenceConfig', 'toolConfig']), '');
    else checkKeys(body, CONVERSE_KEYS, '');
    const msgs = body.messages;
    if (!Array.isArray(msgs) || msgs.length === 0) throw invalid('The model returned the following errors: messages: at least one message is required');
    if (msgs[0].role !== 'user') throw invalid('A conversation must start with a user message. Try again with a conversation that starts with a user message.');
    let toolBlocks = false;
    const docNames = new Set();
    let lastToolUseIds = new Set();
    msgs.forEach((m, i) => {
        if (m.role !== 'user' && m.role !== 'assistant') throw invalid(`messages.${i}.role: must be user or assistant`);
        if (i > 0 && msgs[i - 1].role === m.role) throw invalid('A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.');
        if (!Array.isArray(m.content) || m.content.length === 0) throw invalid(`messages.${i}.content: must have at least one content block`);
        const useIds = new Set();
        m.content.forEach((b, j) => {
            const keys = Object.keys(b ?? {});
            if (keys.length !== 1 || !BLOCK_KEYS.has(keys[0])) throw invalid(`messages.${i}.content.${j}: a content block must have exactly one member`);
            if ('text' in b && (typeof b.text !== 'string' || b.text.trim() === '')) {
                throw invalid(`The text field in the ContentBlock object at messages.${i}.content.${j} is blank. Add text to the text field, and try again.`);
            }
            if (b.image) {
                if (!IMAGE_FORMATS.has(b.image.format)) throw invalid(`messages.${i}.content.${j}.image.format: unsupported format ${b.image.format}`);
                const src = b.image.source ?? {};
                if (!isB64(src.bytes) && !src.s3Location?.uri) throw invalid(`messages.${i}.content.${j}.image.source: bytes must be base64`);
            }
            if (b.document) {
                if (nova) throw invalid('Malformed input request: document blocks are only supported by the Converse API');
                if (!DOC_FORMATS.has(b.document.format)) throw invalid(`messages.${i}.content.${j}.document.format: unsupported`);
                const name = b.document.name;
                if (typeof name !== 'string' || !/^[A-Za-z0-9()[\]-]+( [A-Za-z0-9()[\]-]+)*$/.test(name)) {
                    throw invalid(`The document file name can only contain alphanumeric characters, whitespace characters, hyphens, parentheses, and square brackets. The name can't contain more than one consecutive whitespace character.`);
                }
                if (docNames.has(name)) throw invalid('Duplicate document names are not allowed in the same request.');
                docNames.add(name);
            }
            if (b.toolUse) {
                toolBlocks = true;
                if (m.role !== 'assistant') throw invalid(`messages.${i}: toolUse blocks belong to assistant turns`);
                if (typeof b.toolUse.input !== 'object' || b.toolUse.input === null || Array.isArray(b.toolUse.input)) throw invalid('toolUse.input must be an object');
                useIds.add(b.toolUse.toolUseId);
            }
            if (b.toolResult) {
                toolBlocks = true;
                if (m.role !== 'user') throw invalid(`messages.${i}: toolResult blocks belong to user turns`);
                if (!lastToolUseIds.has(b.toolResult.toolUseId)) throw invalid(`messages.${i}.content.${j}: toolResult ${b.toolResult.toolUseId} does not answer a toolUse of the previous turn`);
                if (!Array.isArray(b.toolResult.content) || b.toolResult.content.length === 0) throw invalid('toolResult.content must not be empty');
                for (const r of b.toolResult.content) {
                    if ('text' in r && (typeof r.text !== 'string' || r.text.trim() === '')) {
                        throw invalid(`The text field in the ToolResultContentBlock object at messages.${i}.content.${j}.toolResult.content is blank. Add text to the text field, and try again.`);
                    }
                }
            }
            if (b.reasoningContent && m.role !== 'assistant') throw invalid('reasoningContent belongs to assistant turns');
        });
        lastToolUseIds = useIds;
    });
    if (toolBlocks && !body.toolConfig) throw invalid('The toolConfig field must be defined when using toolUse and toolResult content blocks.');
    if (body.toolConfig) {
        const tools = body.toolConfig.tools;
        if (!Array.isArray(tools) || tools.length === 0) throw invalid('toolConfig.tools must not be empty');
        for (const t of tools) {
            if (!t.toolSpec && !t.cachePoint) throw invalid('toolConfig.tools: a tool needs a toolSpec');
            if (t.toolSpec && (!t.toolSpec.name || !t.toolSpec.inputSchema?.json)) throw invalid('toolSpec needs name and inputSchema.json');
        }
    }
    for (const s of body.system ?? []) {
        if ('text' in s && (typeof s.text !== 'string' || s.text.trim() === '')) throw invalid('The text field in the system ContentBlock is blank.');
    }
    const ic = body.inferenceConfig ?? {};
    checkKeys(ic, new Set(nova ? ['maxTokens', 'temperature', 'topP', 'topK', 'stopSequences', 'reasoningConfig']
                               : ['maxTokens', 'temperature', 'topP', 'stopSequences']), '/inferenceConfig');
}

function validateAnthropic(body) {
    checkKeys(body, new Set(['anthropic_version', 'anthropic_beta', 'max_tokens', 'messages', 'system', 'temperature',
        'top_p', 'top_k', 'stop_sequences', 'tools', 'tool_choice', 'thinking', 'metadata']), '');
    if (body.anthropic_version !== 'bedrock-2023-05-31') throw invalid('Malformed input request: #: required key [anthropic_version] not found');
    if (!Number.isInteger(body.max_tokens)) throw invalid('Malformed input request: #: required key [max_tokens] not found');
    const msgs = body.messages;
    if (!Array.isArray(msgs) || msgs.length === 0 || msgs[0].role !== 'user') throw invalid('messages: the first message must use the "user" role');
    msgs.forEach((m, i) => {
        if (i > 0 && msgs[i - 1].role === m.role) throw invalid('messages: roles must alternate between "user" and "assistant"');
        const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content;
        if (!Array.isArray(blocks) || blocks.length === 0) throw invalid(`messages.${i}: content must not be empty`);
        for (const b of blocks) {
            if (b.type === 'text' && !b.text) throw invalid(`messages.${i}: text content blocks must be non-empty`);
            if (b.type === 'image' && (b.source?.type !== 'base64' || !isB64(b.source.data))) throw invalid('image source must be base64');
        }
    });
}

function validateNative(family, body) {
    if (family === 'anthropic') return validateAnthropic(body);
    if (family === 'nova') return validateConverse(body, { nova: true });
    if (family === 'titan') {
        checkKeys(body, new Set(['inputText', 'textGenerationConfig']), '');
        checkKeys(body.textGenerationConfig, new Set(['maxTokenCount', 'temperature', 'topP', 'stopSequences']), '/textGenerationConfig');
        if (typeof body.inputText !== 'string' || body.inputText === '') throw invalid('Malformed input request: #: required key [inputText] not found');
        return;
    }
    if (family === 'llama') {
        checkKeys(body, new Set(['prompt', 'max_gen_len', 'temperature', 'top_p', 'images']), '');
        if (typeof body.prompt !== 'string' || !body.prompt.startsWith('<|begin_of_text|>')) throw invalid('prompt: expected the Llama 3 chat template');
        return;
    }
    if (family === 'mistral') {
        checkKeys(body, new Set(['prompt', 'max_tokens', 'temperature', 'top_p', 'top_k', 'stop']), '');
        if (typeof body.prompt !== 'string' || !body.prompt.startsWith('<s>[INST]')) throw invalid('prompt: expected the Mistral instruction template');
        return;
    }
    if (family === 'titan-embed') {
        checkKeys(body, new Set(['inputText', 'dimensions', 'normalize', 'embeddingTypes']), '');
        if (typeof body.inputText !== 'string') throw invalid('Malformed input request: #: required key [inputText] not found');
        return;
    }
    if (family === 'cohere-embed') {
        checkKeys(body, new Set(['texts', 'input_type', 'truncate', 'embedding_types', 'images', 'output_dimension']), '');
        if (!Array.isArray(body.texts) || body.texts.length === 0 || body.texts.length > 96) throw invalid('texts: between 1 and 96 texts');
        if (!body.input_type) throw invalid('Malformed input request: #: required key [input_type] not found');
        return;
    }
    throw invalid(`The provided model identifier does not support InvokeModel in this mock (${family}).`);
}

/* ---- the answer a request gets ---- */

function plan(d, body, family) {
    const p = { text: d.echo ? body.__raw : CONTENT, tool: null, thinking: !!d.thinking, cache: !!d.cache };
    if (d.tool_call) {
        const first = body.toolConfig?.tools?.find((t) => t.toolSpec)?.toolSpec?.name ?? body.tools?.[0]?.name;
        p.tool = { id: 'tooluse_mock_1', name: first ?? 'get_weather' };
    }
    p.pieces = d.echo ? [p.text.slice(0, Math.ceil(p.text.length / 2)), p.text.slice(Math.ceil(p.text.length / 2))] : PIECES;
    p.outputTokens = p.pieces.length + (p.tool ? 5 : 0) + (p.thinking ? 4 : 0);
    p.family = family;
    return p;
}

function converseUsage(p) {
    const u = { inputTokens: INPUT_TOKENS, outputTokens: p.outputTokens, totalTokens: INPUT_TOKENS + p.outputTokens };
    if (p.cache) {
        u.cacheReadInputTokens = 100;
        u.cacheWriteInputTokens = 20;
        u.totalTokens += 120;
    }
    return u;
}

function converseAnswer(p) {
    const content = [];
    if (p.thinking) content.push({ reasoningContent: { reasoningText: { text: THINKING, signature: SIGNATURE } } });
    if (p.tool) content.push({ toolUse: { toolUseId: p.tool.id, name: p.tool.name, input: TOOL_INPUT } });
    else content.push({ text: p.text });
    return {
        output: { message: { role: 'assistant', content } },
        stopReason: p.tool ? 'tool_use' : 'end_turn',
        usage: converseUsage(p),
        metrics: { latencyMs: 42 },
    };
}

/* ConverseStream events, as [name, payload] pairs. */
function converseEvents(p) {
    const evs = [['messageStart', { role: 'assistant' }]];
    let idx = 0;
    if (p.thinking) {
        evs.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { reasoningContent: { text: THINKING } } }]);
        evs.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { reasoningContent: { signature: SIGNATURE } } }]);
        evs.push(['contentBlockStop', { contentBlockIndex: idx }]);
        idx++;
    }
    if (p.tool) {
        evs.push(['contentBlockStart', { contentBlockIndex: idx, start: { toolUse: { toolUseId: p.tool.id, name: p.tool.name } } }]);
        for (const f of TOOL_FRAGMENTS) evs.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { toolUse: { input: f } } }]);
    } else {
        for (const t of p.pieces) evs.push(['contentBlockDelta', { contentBlockIndex: idx, delta: { text: t } }]);
    }
    evs.push(['contentBlockStop', { contentBlockIndex: idx }]);
    evs.push(['messageStop', { stopReason: p.tool ? 'tool_use' : 'end_turn' }]);
    evs.push(['metadata', { usage: converseUsage(p), metrics: { latencyMs: 42 } }]);
    return evs;
}

const metrics = (p) => ({ inputTokenCount: INPUT_TOKENS, outputTokenCount: p.outputTokens, invocationLatency: 40, firstByteLatency: 10 });

function nativeAnswer(p) {
    switch (p.family) {
    case 'anthropic': {
        const content = [];
        if (p.thinking) content.push({ type: 'thinking', thinking: THINKING, signature: SIGNATURE });
        if (p.tool) content.push({ type: 'tool_use', id: 'toolu_mock_1', name: p.tool.name, input: TOOL_INPUT });
        else content.push({ type: 'text', text: p.text });
        const usage = { input_tokens: INPUT_TOKENS, output_tokens: p.outputTokens };
        if (p.cache) Object.assign(usage, { cache_read_input_tokens: 100, cache_creation_input_tokens: 20 });
        return { id: 'msg_bdrk_mock', type: 'message', role: 'assistant', model: 'claude-mock', content,
                 stop_reason: p.tool ? 'tool_use' : 'end_turn', stop_sequence: null, usage };
    }
    case 'titan':
        return { inputTextTokenCount: INPUT_TOKENS, results: [{ tokenCount: p.outputTokens, outputText: p.text, completionReason: 'FINISH' }] };
    case 'llama':
        return { generation: p.text, prompt_token_count: INPUT_TOKENS, generation_token_count: p.outputTokens, stop_reason: 'stop' };
    case 'mistral':
        return { outputs: [{ text: p.text, stop_reason: 'stop' }] };
    case 'nova': {
        const a = converseAnswer(p);
        a.usage = { inputTokens: INPUT_TOKENS, outputTokens: p.outputTokens, totalTokens: INPUT_TOKENS + p.outputTokens,
                    cacheReadInputTokenCount: p.cache ? 100 : 0, cacheWriteInputTokenCount: p.cache ? 20 : 0 };
        delete a.metrics;
        return a;
    }
    default:
        throw invalid('no native answer for this family');
    }
}

/* The decoded payloads of an InvokeModelWithResponseStream answer. */
function nativeChunks(p) {
    const last = (o) => ({ ...o, 'amazon-bedrock-invocationMetrics': metrics(p) });
    switch (p.family) {
    case 'anthropic': {
        const evs = [{ type: 'message_start', message: { id: 'msg_bdrk_mock', type: 'message', role: 'assistant', model: 'claude-mock',
                                                        content: [], stop_reason: null, stop_sequence: null,
                                                        usage: { input_tokens: INPUT_TOKENS, output_tokens: 1 } } }];
        let i = 0;
        if (p.thinking) {
            evs.push({ type: 'content_block_start', index: i, content_block: { type: 'thinking', thinking: '' } });
            evs.push({ type: 'content_block_delta', index: i, delta: { type: 'thinking_delta', thinking: THINKING } });
            evs.push({ type: 'content_block_delta', index: i, delta: { type: 'signature_delta', signature: SIGNATURE } });
            evs.push({ type: 'content_block_stop', index: i++ });
        }
        if (p.tool) {
            evs.push({ type: 'content_block_start', index: i, content_block: { type: 'tool_use', id: 'toolu_mock_1', name: p.tool.name, input: {} } });
            for (const f of TOOL_FRAGMENTS) evs.push({ type: 'content_block_delta', index: i, delta: { type: 'input_json_delta', partial_json: f } });
        } else {
            evs.push({ type: 'content_block_start', index: i, content_block: { type: 'text', text: '' } });
            evs.push({ type: 'ping' });
            for (const t of p.pieces) evs.push({ type: 'content_block_delta', index: i, delta: { type: 'text_delta', text: t } });
        }
        evs.push({ type: 'content_block_stop', index: i });
        evs.push({ type: 'message_delta', delta: { stop_reason: p.tool ? 'tool_use' : 'end_turn', stop_sequence: null },
                   usage: { output_tokens: p.outputTokens } });
        evs.push(last({ type: 'message_stop' }));
        return evs;
    }
    case 'titan': {
        let n = 0;
        return p.pieces.map((t, k) => {
            n++;
            const o = { outputText: t, index: 0, totalOutputTextTokenCount: n,
                        completionReason: k === p.pieces.length - 1 ? 'FINISH' : null,
                        inputTextTokenCount: k === 0 ? INPUT_TOKENS : null };
            return k === p.pieces.length - 1 ? last(o) : o;
        });
    }
    case 'llama':
        return p.pieces.map((t, k) => {
            const o = { generation: t, prompt_token_count: k === 0 ? INPUT_TOKENS : null, generation_token_count: k + 1,
                        stop_reason: k === p.pieces.length - 1 ? 'stop' : null };
            return k === p.pieces.length - 1 ? last(o) : o;
        });
    case 'mistral':
        return p.pieces.map((t, k) => {
            const o = { outputs: [{ text: t, stop_reason: k === p.pieces.length - 1 ? 'stop' : null }] };
            return k === p.pieces.length - 1 ? last(o) : o;
        });
    case 'nova': {
        const evs = converseEvents(p).map(([name, payload]) => ({ [name]: payload }));
        evs[evs.length - 1] = last(evs[evs.length - 1]);
        return evs;
    }
    default:
        throw invalid('no native stream for this family');
    }
}

/* Deterministic unit vectors from a text. */
export function embeddingOf(text, dims = EMBED_DIMS) {
    const v = new Array(dims).fill(0);
    for (let i = 0; i < text.length; i++) v[i % dims] += (text.charCodeAt(i) % 31) + 1;
    const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
    return v.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

function embedAnswer(family, body) {
    if (family === 'titan-embed') {
        const e = embeddingOf(body.inputText, body.dimensions ?? EMBED_DIMS);
        return { embedding: e, inputTextTokenCount: body.inputText.split(/\s+/).filter(Boolean).length, embeddingsByType: { float: e } };
    }
    const vecs = body.texts.map((t) => embeddingOf(t));
    return { id: 'emb-mock-1', response_type: 'embeddings_by_type', texts: body.texts, embeddings: { float: vecs } };
}

/* ---- server ---- */

function parseArgs(argv) {
    const o = { port: 0, region: REGION, creds: [], apiKeys: [], verbose: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a === '--port') o.port = Number(argv[++i]);
        else if (a === '--region') o.region = argv[++i];
        else if (a === '--creds') {
            const [accessKeyId, secretAccessKey, sessionToken] = argv[++i].split(':');
            o.creds.push({ accessKeyId, secretAccessKey, sessionToken });
        } else if (a === '--api-key') o.apiKeys.push(argv[++i]);
        else if (a === '--verbose') o.verbose = true;
    }
    if (o.creds.length === 0) o.creds.push(CREDS, SESSION_CREDS, CONTAINER_CREDS);
    if (o.apiKeys.length === 0) o.apiKeys.push(API_KEY);
    return o;
}

export function startBedrockMock(opts) {
    const log = (...a) => opts.verbose && process.stderr.write(`[bedrock-mock] ${a.join(' ')}\n`);
    const recorded = [];
    const throttleCounts = new Map();
    let releaseCreds = null;
    let credsReleased = new Promise((r) => {
        releaseCreds = r;
    });

    function sendError(res, status, name, message) {
        const body = JSON.stringify({ message });
        res.writeHead(status, {
            'content-type': 'application/json',
            'x-amzn-errortype': `${name}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
            'x-amzn-requestid': 'mock-req-err',
            'content-length': Buffer.byteLength(body),
        });
        res.end(body);
    }

    function sendJson(res, obj) {
        const body = JSON.stringify(obj);
        res.writeHead(200, { 'content-type': 'application/json', 'x-amzn-requestid': 'mock-req-1',
                             'content-length': Buffer.byteLength(body) });
        res.end(body);
    }

    function authenticate(req, body) {
        const auth = req.headers.authorization ?? '';
        if (auth.startsWith('Bearer ')) {
            if (!opts.apiKeys.includes(auth.slice(7))) throw new Reject(403, 'Invalid API Key format: Must start with pre-defined prefix', 'AccessDeniedException');
            return { auth: 'bearer' };
        }
        const v = verifySigV4(req, body, {
            lookup: (id) => opts.creds.find((c) => c.accessKeyId === id) ?? null,
            region: opts.region,
            service: 'bedrock',
        });
        if (!v.ok) {
            log('signature check failed:', v.type, v.message, v.canonicalRequest ? `\n${v.canonicalRequest}` : '');
            throw new Reject(v.status, v.message, v.type);
        }
        return { auth: 'sigv4', accessKeyId: v.accessKeyId, region: v.region };
    }

    async function streamAnswer(res, d, frames) {
        res.writeHead(200, { 'content-type': 'application/vnd.amazon.eventstream', 'x-amzn-requestid': 'mock-req-stream',
                             'x-amzn-bedrock-content-type': 'application/json' });
        for (let i = 0; i < frames.length; i++) {
            if (res.destroyed) return;
            const faultAt = 2; /* after messageStart and one delta */
            if (i === faultAt && d.stream_exception) {
                const name = d.stream_exception === true ? 'modelStreamErrorException' : d.stream_exception;
                res.write(encodeException(name, { message: `The mock stream failed with ${name}.`,
                                                  originalStatusCode: 500, originalMessage: 'mock' }));
                res.end();
                return;
            }
            if (i === faultAt && d.bad_crc) {
                const bad = Buffer.from(frames[i]);
                bad.writeUInt32BE((bad.readUInt32BE(bad.length - 4) ^ 0xdeadbeef) >>> 0, bad.length - 4);
                res.write(bad);
                await sleep(20);
                if (!res.destroyed) res.write(frames[i + 1] ?? frames[i]);
                res.end();
                return;
            }
            if (i === faultAt && d.truncate) {
                res.write(frames[i].subarray(0, Math.floor(frames[i].length / 2)));
                await sleep(20);
                res.end();
                return;
            }
            res.write(frames[i]);
            await sleep(2);
        }
        res.end();
    }

    async function handleModel(req, res, raw, m) {
        const modelId = decodeURIComponent(m[1]);
        const op = m[2];
        const family = familyOf(modelId);
        const who = authenticate(req, raw);
        let body;
        try {
            body = JSON.parse(raw.toString('utf8'));
        } catch {
            throw invalid('Malformed input request: the body is not JSON');
        }
        if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('Malformed input request: expected an object');
        recorded.push({ method: req.method, path: req.url, operation: op, modelId, ...who, headers: req.headers,
                        body: raw.toString('utf8'), time: Date.now() });
        const d = parseDirectives(directiveText(op, family, body));
        if (d.delay) await sleep(Number(d.delay));
        if (d.status) {
            const st = Number(d.status);
            throw new Reject(st, ERROR_TEXT[st] ?? `Mock error ${st}`, ERROR_NAMES[st] ?? 'InternalServerException');
        }
        if (d.throttle) {
            const key = directiveText(op, family, body);
            const n = (throttleCounts.get(key) ?? 0) + 1;
            throttleCounts.set(key, n);
            if (d.throttle === true || n <= Number(d.throttle)) throw new Reject(429, ERROR_TEXT[429], 'ThrottlingException');
        }
        if (d.context) throw invalid('Input is too long for requested model.');

        if (op === 'converse' || op === 'converse-stream') {
            validateConverse(body);
            body.__raw = raw.toString('utf8');
            const p = plan(d, body, family);
            if (op === 'converse') return sendJson(res, converseAnswer(p));
            const frames = converseEvents(p).map(([name, payload], k) => encodeEvent(name, { ...payload, p: pad(k % 20 + 1) }));
            return streamAnswer(res, d, frames);
        }
        if (op === 'invoke' || op === 'invoke-with-response-stream') {
            validateNative(family, body);
            body.__raw = raw.toString('utf8');
            if (family === 'titan-embed' || family === 'cohere-embed') {
                if (op !== 'invoke') throw invalid('The model does not support streaming.');
                return sendJson(res, embedAnswer(family, body));
            }
            const p = plan(d, body, family);
            if (op === 'invoke') return sendJson(res, nativeAnswer(p));
            const frames = nativeChunks(p).map((c, k) => encodeEvent('chunk', {
                bytes: Buffer.from(JSON.stringify(c)).toString('base64'), p: pad(k % 20 + 1) }));
            return streamAnswer(res, d, frames);
        }
        throw new Reject(404, `Unknown operation ${op}`, 'UnknownOperationException');
    }

    function handlePrompt(req, res, raw, id, version) {
        const who = authenticate(req, raw);
        recorded.push({ method: req.method, path: req.url, operation: 'GetPrompt', promptId: id, promptVersion: version,
                        ...who, headers: req.headers, body: '', time: Date.now() });
        const v = version ?? 'DRAFT';
        const prompt = PROMPTS[id]?.[v];
        if (!prompt) throw new Reject(404, `Prompt ${id} version ${v} not found.`, 'ResourceNotFoundException');
        sendJson(res, { ...prompt, id, version: v, arn: `arn:aws:bedrock:${opts.region}:123456789012:prompt/${id}`,
                        createdAt: '2025-01-01T00:00:00Z', updatedAt: '2025-01-01T00:00:00Z' });
    }

    const server = http.createServer((req, res) => {
        const chunks = [];
        req.on('data', (c) => chunks.push(c));
        req.on('end', async () => {
            const raw = Buffer.concat(chunks);
            const url = new URL(req.url, 'http://mock');
            try {
                if (url.pathname === '/__mock/requests' && req.method === 'GET') {
                    const contains = url.searchParams.get('contains');
                    const onPath = url.searchParams.get('path');
                    return sendJson(res, recorded.filter((r) => (contains == null || r.body.includes(contains) || r.path.includes(contains)) &&
                                                             (onPath == null || r.path.startsWith(onPath))));
                }
                if (url.pathname === '/__mock/reset' && req.method === 'POST') {
                    recorded.length = 0;
                    throttleCounts.clear();
                    credsReleased = new Promise((r) => {
                        releaseCreds = r;
                    });
                    return sendJson(res, { ok: true });
                }
                if (url.pathname === '/__mock/release-creds' && req.method === 'POST') {
                    releaseCreds();
                    return sendJson(res, { ok: true });
                }
                if (url.pathname === '/__creds/container' && req.method === 'GET') {
                    await sleep(Number(url.searchParams.get('delay') ?? 0));
                    if (url.searchParams.get('hold')) await Promise.race([credsReleased, sleep(4500)]);
                    recorded.push({ method: 'GET', path: req.url, operation: 'ContainerCredentials', headers: req.headers,
                                    body: '', time: Date.now() });
                    return sendJson(res, { AccessKeyId: CONTAINER_CREDS.accessKeyId, SecretAccessKey: CONTAINER_CREDS.secretAccessKey,
                                           Token: CONTAINER_CREDS.sessionToken, Expiration: new Date(Date.now() + 3600e3).toISOString() });
                }
                const m = /^\/model\/([^/]+)\/(converse|converse-stream|invoke|invoke-with-response-stream)$/.exec(url.pathname);
                if (m && req.method === 'POST') return await handleModel(req, res, raw, m);
                const pm = /^\/prompts\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
                if (pm && req.method === 'GET') return handlePrompt(req, res, raw, pm[1], url.searchParams.get('promptVersion') ?? undefined);
                throw new Reject(404, `No route for ${req.method} ${url.pathname}`, 'UnknownOperationException');
            } catch (e) {
                if (!(e instanceof Reject)) {
                    log('internal error:', e.stack);
                    e = new Reject(500, `mock failure: ${e.message}`, 'InternalServerException');
                }
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
    startBedrockMock(opts).then((server) => {
        process.stdout.write(`LISTENING ${server.address().port}\n`);
        for (const sig of ['SIGTERM', 'SIGINT']) {
            process.on(sig, () => {
                server.close(() => process.exit(0));
                server.closeAllConnections();
            });
        }
    });
}
