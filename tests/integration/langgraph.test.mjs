/*
 * A LangGraph agent (@langchain/langgraph's prebuilt ReAct agent over @langchain/openai's ChatOpenAI)
 * pointed at Gantry, with the model group served by a Bedrock deployment against the Bedrock mock:
 * the agent asks, the model calls a tool (a Converse toolUse translated into an OpenAI tool call),
 * the agent runs the tool and sends the result back (a tool message translated into a Converse
 * toolResult), and the model's final answer ends the run.  Streamed and non-streamed.
 */
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { tool } from '@langchain/core/tools';
import { createReactAgent } from '@langchain/langgraph/prebuilt';
import { z } from 'zod';
import { CONTENT, CREDS, REGION, TOOL_INPUT } from '../mock/bedrock-mock.mjs';
import { MASTER_KEY, REPO_ROOT, marker, startGateway, startMockProcess } from './harness.mjs';

const T = { timeout: 60_000 };

/*
 * LangChain estimates prompt tokens with tiktoken encodings it downloads from tiktoken.pages.dev,
 * retrying for about a minute when there is no network (CI).  Refuse that download with an error
 * whose status is 404, which its retry logic gives up on at once, so it falls back to its
 * approximate count.  Nothing else here uses the global fetch but the OpenAI client talking to
 * Gantry.
 */
const realFetch = globalThis.fetch;
globalThis.fetch = (url, init) => (String(url).includes('tiktoken.pages.dev')
    ? Promise.reject(Object.assign(new Error('tiktoken download disabled in tests'), { status: 404 }))
    : realFetch(url, init));
const MOCK = path.join(REPO_ROOT, 'tests', 'mock', 'bedrock-mock.mjs');

describe('LangGraph agent through Gantry to Bedrock', () => {
    let mock;
    let gw;

    before(async () => {
        mock = await startMockProcess(MOCK, ['--port', '0']);
        gw = await startGateway({
            model_list: [{
                model_name: 'claude-agent',
                litellm_params: {
                    model: 'bedrock/us.anthropic.claude-3-5-sonnet-20241022-v2:0',
                    aws_bedrock_runtime_endpoint: mock.url,
                    aws_region_name: REGION,
                    aws_access_key_id: CREDS.accessKeyId,
                    aws_secret_access_key: CREDS.secretAccessKey,
                },
                model_info: { id: 'dep-agent' },
            }],
            general_settings: { master_key: MASTER_KEY },
        });
    });
    after(async () => {
        await gw?.stop();
        await mock?.stop();
    });

    for (const streaming of [false, true]) {
        it(`runs a tool-calling agent to its answer (${streaming ? 'streaming' : 'non-streaming'})`, T, async () => {
            const calls = [];
            const weather = tool(async ({ city, unit }) => {
                calls.push({ city, unit });
                return `It is 21 degrees ${unit} in ${city}.`;
            }, {
                name: 'get_weather',
                description: 'Current weather in a city',
                schema: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }),
            });
            const llm = new ChatOpenAI({
                model: 'claude-agent',
                apiKey: MASTER_KEY,
                configuration: { baseURL: gw.baseURL },
                streaming,
                maxRetries: 0,
            });
            const agent = createReactAgent({ llm, tools: [weather] });
            const m = marker('agent');
            const out = await agent.invoke(
                { messages: [{ role: 'user', content: `What is the weather in Paris? ${m} [[tool_call]]` }] },
                { recursionLimit: 6 });

            /* The tool ran once with the arguments the model chose... */
            assert.deepEqual(calls, [TOOL_INPUT]);
            /* ...and the run ended on the model's answer after the tool result. */
            const msgs = out.messages;
            const last = msgs[msgs.length - 1];
            assert.equal(last.content, CONTENT);
            const kinds = msgs.map((x) => x.getType());
            assert.deepEqual(kinds, ['human', 'ai', 'tool', 'ai']);
            assert.equal(msgs[1].tool_calls[0].name, 'get_weather');
            assert.deepEqual(msgs[1].tool_calls[0].args, TOOL_INPUT);

            /* Upstream, the second call carried the toolUse and the toolResult in Converse form. */
            const ups = await mock.requests(m);
            assert.equal(ups.length, 2);
            assert.equal(ups[0].operation, streaming ? 'converse-stream' : 'converse');
            const body = (u) => (typeof u.body === 'string' ? JSON.parse(u.body) : u.body);
            const second = body(ups[1]);
            const toolUse = second.messages[1].content.find((b) => b.toolUse)?.toolUse;
            const toolResult = second.messages[2].content.find((b) => b.toolResult)?.toolResult;
            assert.equal(toolUse.name, 'get_weather');
            assert.deepEqual(toolUse.input, TOOL_INPUT);
            assert.equal(toolResult.toolUseId, toolUse.toolUseId);
            assert.match(JSON.stringify(toolResult.content), /21 degrees celsius in Paris/);
            assert.equal(second.toolConfig.tools[0].toolSpec.name, 'get_weather');
        });
    }
});
