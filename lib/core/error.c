/* Status strings, the thread-local last error, and the log sink. */
#include <stdio.h>
#include <string.h>

#include "core/context.h"

static _Thread_local char last_error[TDL_ERRMSG_MAX];

TDL_API const char *tdl_status_string(tdl_status status)
{
    switch (status) {
    case TDL_OK: return "ok";
    case TDL_ERR_INVALID_ARGUMENT: return "invalid argument";
    case TDL_ERR_SHAPE: return "shape mismatch";
    case TDL_ERR_DTYPE: return "wrong dtype";
    case TDL_ERR_OUT_OF_MEMORY: return "out of memory";
    case TDL_ERR_IO: return "i/o error";
    case TDL_ERR_FORMAT: return "bad file format";
    case TDL_ERR_NOT_FOUND: return "not found";
    case TDL_ERR_STATE: return "call out of order";
    case TDL_ERR_NON_FINITE: return "non-finite value";
    case TDL_ERR_UNSUPPORTED: return "unsupported";
    case TDL_ERR_INTERNAL: return "internal error";
    default: return "unknown status";
    }
}

TDL_API const char *tdl_last_error(void)
{
    return last_error;
}

tdl_status tdl_failv(tdl_ctx *ctx, char *dst, tdl_status status, const char *fmt, va_list ap)
{
    char msg[TDL_ERRMSG_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    memcpy(last_error, msg, sizeof msg);
    if (dst)
        memcpy(dst, msg, sizeof msg);
    if (ctx && ctx->log_fn && ctx->log_level >= TDL_LOG_ERROR)
        ctx->log_fn(TDL_LOG_ERROR, msg, ctx->log_user);
    return status;
}

tdl_status tdl_fail(tdl_ctx *ctx, char *dst, tdl_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tdl_failv(ctx, dst, status, fmt, ap);
    va_end(ap);
    return status;
}

void tdl_log_msg(tdl_ctx *ctx, int32_t level, const char *fmt, ...)
{
    if (!ctx || !ctx->log_fn || level > ctx->log_level)
        return;
    char msg[TDL_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ctx->log_fn(level, msg, ctx->log_user);
}
