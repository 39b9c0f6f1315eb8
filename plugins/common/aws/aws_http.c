/*
 * aws_http: one blocking HTTP exchange with libcurl's easy interface, for the credential fetches
 * that run on a provider's own background thread (never on a worker loop).  Responses are capped,
 * redirects are not followed, and a provider being released cancels its transfer at once instead
 * of waiting for a timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "aws_internal.h"

#define MAX_BODY (64 * 1024)
#define CANCEL_POLL_MS 50

typedef struct sink {
    aws_buf_t buf;
    bool too_big;
} sink_t;

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
    sink_t *s = arg;
    size_t n = size * nmemb;
    if (s->buf.len + n > MAX_BODY) {
        s->too_big = true;
        return 0; /* aborts the transfer */
    }
    aws_buf_put(&s->buf, data, n);
    return s->buf.oom ? 0 : n;
}

/* The transfer, driven by a multi handle so a cancellation is seen within CANCEL_POLL_MS whatever
 * the transfer is waiting for (easy_perform would look at it only about once a second). */
static CURLcode perform(CURL *h, const _Atomic bool *cancel, bool *cancelled)
{
    CURLM *m = curl_multi_init();
    if (m == NULL)
        return CURLE_OUT_OF_MEMORY;
    CURLcode rc = CURLE_OK;
    if (curl_multi_add_handle(m, h) != CURLM_OK) {
        curl_multi_cleanup(m);
        return CURLE_OUT_OF_MEMORY;
    }
    int running = 1;
    while (running) {
        if (curl_multi_perform(m, &running) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
        if (running == 0)
            break;
        if (cancel != NULL && atomic_load(cancel)) {
            *cancelled = true;
            rc = CURLE_ABORTED_BY_CALLBACK;
            break;
        }
        if (curl_multi_poll(m, NULL, 0, CANCEL_POLL_MS, NULL) != CURLM_OK) {
            rc = CURLE_FAILED_INIT;
            break;
        }
    }
    if (running == 0) {
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left)) != NULL)
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
                rc = msg->data.result;
    }
    curl_multi_remove_handle(m, h);
    curl_multi_cleanup(m);
    return rc;
}

int aws_http(const aws_http_req_t *req, aws_http_resp_t *resp)
{
    memset(resp, 0, sizeof *resp);
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(resp->error, sizeof resp->error, "out of memory");
        return -1;
    }
    struct curl_slist *hdrs = NULL, *tmp;
    /* curl would add "Expect: 100-continue" to bigger bodies and a form content type to POSTs;
     * every header that matters is set by the caller. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (req->method != NULL && strcmp(req->method, "GET") != 0 &&
        (tmp = curl_slist_append(hdrs, "Content-Type:")) != NULL)
        hdrs = tmp;
    for (const char *const *l = req->headers; l != NULL && *l != NULL; l++)
        if (hdrs != NULL && (tmp = curl_slist_append(hdrs, *l)) != NULL)
            hdrs = tmp;
    sink_t sink = {0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, req->url);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, req->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "gantry-aws");
    if (req->no_proxy)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (req->method != NULL && strcmp(req->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body != NULL ? req->body : "");
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
    bool cancelled = false;
    CURLcode rc = perform(h, req->cancel, &cancelled);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        /* The parsers read text: a body is what precedes a stray NUL. */
        resp->body = aws_buf_take(&sink.buf);
        if (resp->body == NULL) {
            resp->status = 0;
            snprintf(resp->error, sizeof resp->error, "out of memory");
        } else {
            resp->body_len = strlen(resp->body);
        }
    } else if (sink.too_big) {
        snprintf(resp->error, sizeof resp->error, "response larger than %d bytes", MAX_BODY);
    } else if (cancelled) {
        snprintf(resp->error, sizeof resp->error, "cancelled");
    } else {
        snprintf(resp->error, sizeof resp->error, "%.150s",
                 errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
    aws_buf_free(&sink.buf);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return resp->status > 0 ? 0 : -1;
}

void aws_http_resp_free(aws_http_resp_t *resp)
{
    /* Credential responses hold secrets. */
    aws_free_secret(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}
